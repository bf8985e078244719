"""The nameko entrypoints of the identity service.

Each RPC checks the caller and delegates to the service layer. Clients reach
the RPCs through the gateway, which passes the verified caller and the
access token's session id in the RPC context.
"""

import logging
from contextlib import contextmanager
from functools import partial

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from nameko.rpc import rpc as nameko_rpc

from torget_identity import access, accounts, contacts, logins, password_accounts, sessions, tokens
from torget_identity.errors import Forbidden, IdentityError, Unauthenticated
from torget_identity.ports import DirectoryClient, Ports, bankid_client
from torget_identity.protection import Protector
from torget_identity.settings import IdentitySettings
import torget_shared.contracts  # noqa: F401, I001 - registers the event schemas
from torget_shared.caller import ACCOUNT, SERVICE, Caller
from torget_shared.service import ServiceBase

log = logging.getLogger(__name__)

# A rejection is the caller's error, so nameko logs it as a warning, not with a traceback.
rpc = partial(nameko_rpc, expected_exceptions=IdentityError)

# The context key under which the gateway passes the session id ("sid") of the verified access token.
SESSION_KEY = "session_id"


class Runtime(DependencyProvider):
    """Settings, keys and the BankID client, made once per container."""

    def setup(self) -> None:
        self.settings = IdentitySettings.from_config(self.container.config)
        self.protector = Protector(self.settings.data_key, self.settings.lookup_key)
        self.bankid = bankid_client(self.settings)
        log.info("identity configured", extra={"bankid_url": self.settings.bankid_url})

    def get_dependency(self, worker_ctx):
        return self


class SessionId(DependencyProvider):
    def get_dependency(self, worker_ctx) -> str | None:
        return worker_ctx.data.get(SESSION_KEY)


class KeepingTransactions:
    """The worker's database, committing the changes of an IdentityError marked ``keep_changes``.

    A rejection such as a wrong activation code must still count the attempt,
    so the transaction commits and the error is raised after it.
    """

    def __init__(self, db):
        self._db = db

    @contextmanager
    def transaction(self):
        kept = None
        with self._db.transaction() as session:
            try:
                yield session
            except IdentityError as exc:
                if not exc.keep_changes:
                    raise
                kept = exc
        if kept is not None:
            raise kept


class IdentityService(ServiceBase):
    name = "identity"

    runtime = Runtime()
    session_id = SessionId()
    school_directory = RpcProxy("school_directory")

    # -- helpers -----------------------------------------------------------

    @property
    def ports(self) -> Ports:
        return Ports(
            db=KeepingTransactions(self.db),
            settings=self.runtime.settings,
            protector=self.runtime.protector,
            bankid=self.runtime.bankid,
            directory=DirectoryClient(self.school_directory),
            publish=self.events,
        )

    def _account_caller(self) -> Caller:
        if self.caller.kind != ACCOUNT or not self.caller.account_id:
            raise Unauthenticated("login_required")
        return self.caller

    def _administrator(self) -> Caller:
        caller = self.caller
        if caller.kind == SERVICE and self.calling_service != "gateway":
            return caller
        if caller.kind == ACCOUNT and caller.has_bankid and caller.has_role(accounts.ADMINISTRATOR):
            return caller
        raise Forbidden("administrator_required")

    @contextmanager
    def _login_attempt(self, method: str):
        """Log the failure of a login attempt with its code, then re-raise it."""
        try:
            yield
        except IdentityError as exc:
            log.info("login failed", extra={"method": method, "code": exc.code})
            raise

    def _in_transaction(self, function, *args, **kwargs):
        with self.ports.db.transaction() as session:
            return function(session, *args, **kwargs)

    # -- BankID login and applying for an account --------------------------

    @rpc(expected_exceptions=IdentityError)
    def start_bankid_login(self, end_user_ip: str) -> dict:
        """Start a BankID order; returns order_ref, auto_start_token and the first qr_data."""
        return logins.start_login(self.ports, end_user_ip, self.caller.language)

    @rpc(expected_exceptions=IdentityError)
    def poll_bankid_login(self, order_ref: str, qr: bool = True) -> dict:
        """Return the order's status, hint code, user message and current qr_data."""
        return logins.poll_login(self.ports, order_ref, self.caller.language, qr=qr)

    @rpc(expected_exceptions=IdentityError)
    def cancel_bankid_login(self, order_ref: str) -> dict:
        return logins.cancel_login(self.ports, order_ref, self.caller.language)

    @rpc(expected_exceptions=IdentityError)
    def complete_bankid_login(self, order_ref: str) -> dict:
        """Log in with a completed order; returns tokens, or raises no_account when the person has none."""
        with self._login_attempt("bankid"):
            return accounts.login_with_bankid(self.ports, order_ref, apply=False, language=self.caller.language)

    @rpc(expected_exceptions=IdentityError)
    def apply_for_account(self, order_ref: str) -> dict:
        """Create the account of a guardian or staff member (or find the existing one) and log in."""
        with self._login_attempt("bankid"):
            return accounts.login_with_bankid(self.ports, order_ref, apply=True, language=self.caller.language)

    # -- password accounts created by staff ---------------------------------

    @rpc(expected_exceptions=IdentityError)
    def create_guardian_account(
        self,
        guardian_person_id: str,
        child_person_id: str,
        unit_id: str,
        given_name: str,
        family_name: str,
        language: str = "sv",
    ) -> dict:
        return password_accounts.create_guardian_account(
            self.ports,
            self._account_caller(),
            guardian_person_id=guardian_person_id,
            child_person_id=child_person_id,
            unit_id=unit_id,
            given_name=given_name,
            family_name=family_name,
            language=language,
        )

    @rpc(expected_exceptions=IdentityError)
    def reissue_activation_code(self, account_id: str) -> dict:
        return password_accounts.reissue_activation_code(self.ports, self._account_caller(), account_id)

    @rpc(expected_exceptions=IdentityError)
    def activate_account(self, username: str, code: str, password: str) -> dict:
        return password_accounts.activate_account(self.ports, username=username, code=code, password=password)

    @rpc(expected_exceptions=IdentityError)
    def password_login(self, username: str, password: str) -> dict:
        with self._login_attempt("password"):
            return password_accounts.login_with_password(self.ports, username=username, password=password)

    # -- sessions and tokens ------------------------------------------------

    @rpc(expected_exceptions=IdentityError)
    def refresh(self, refresh_token: str) -> dict:
        ports = self.ports
        return self._in_transaction(sessions.refresh_session, ports.protector, ports.settings, str(refresh_token or ""))

    @rpc(expected_exceptions=IdentityError)
    def logout(self, refresh_token: str | None = None) -> dict:
        """End the session of ``refresh_token``, or else the caller's own session."""
        return self._in_transaction(
            sessions.logout,
            self.runtime.protector,
            refresh_token=refresh_token,
            session_id=self.session_id,
            account_id=self.caller.account_id,
        )

    @rpc(expected_exceptions=IdentityError)
    def jwks(self) -> dict:
        """Return the public keys that verify access tokens, as a JWKS."""
        ports = self.ports
        with ports.db.transaction() as session:
            tokens.current_signing_key(session, ports.protector, ports.settings)
            keys = tokens.published_keys(session, ports.settings)
        return {
            **keys,
            "issuer": ports.settings.token_issuer,
            "audience": ports.settings.token_audience,
            "algorithms": [tokens.ALGORITHM],
        }

    @rpc(expected_exceptions=IdentityError)
    def token_policy(self) -> dict:
        """Return the role cut-offs and recently revoked sessions that the gateway applies to tokens."""
        return self._in_transaction(access.token_policy, self.runtime.settings)

    @rpc(expected_exceptions=IdentityError)
    def rotate_signing_key(self) -> dict:
        self._administrator()
        kid = self._in_transaction(tokens.create_signing_key, self.runtime.protector)
        return {"kid": kid}

    # -- the account and its contact details --------------------------------

    @rpc(expected_exceptions=IdentityError)
    def me(self) -> dict:
        caller = self._account_caller()
        return {**contacts.describe_account(self.ports, caller.account_id), "assurance": caller.assurance}

    @rpc(expected_exceptions=IdentityError)
    def request_email_verification(self, email: str) -> dict:
        caller = self._account_caller()
        return contacts.request_email_verification(
            self.ports, account_id=caller.account_id, session_id=self.session_id, email=email
        )

    @rpc(expected_exceptions=IdentityError)
    def verify_email(self, token: str) -> dict:
        return contacts.verify_email(self.ports, token)

    @rpc(expected_exceptions=IdentityError)
    def set_mobile(self, mobile: str | None) -> dict:
        caller = self._account_caller()
        return contacts.set_mobile(self.ports, account_id=caller.account_id, session_id=self.session_id, mobile=mobile)

    @rpc(expected_exceptions=IdentityError)
    def remove_email(self) -> dict:
        caller = self._account_caller()
        return contacts.remove_email(self.ports, account_id=caller.account_id, session_id=self.session_id)

    @rpc(expected_exceptions=IdentityError)
    def set_notice_preferences(self, language: str | None = None, sms: bool | None = None, email: bool | None = None) -> dict:
        caller = self._account_caller()
        return contacts.set_preferences(self.ports, account_id=caller.account_id, language=language, sms=sms, email=email)

    # -- administration ------------------------------------------------------

    @rpc(expected_exceptions=IdentityError)
    def set_access_cutoff(self, role: str, date: str) -> dict:
        caller = self._administrator()
        return self._in_transaction(access.set_cutoff, self.runtime.settings, role, date, caller.account_id)

    @rpc(expected_exceptions=IdentityError)
    def clear_access_cutoff(self, role: str) -> dict:
        caller = self._administrator()
        self._in_transaction(access.clear_cutoff, role, caller.account_id)
        return {"role": role, "date": None}

    @rpc(expected_exceptions=IdentityError)
    def access_cutoffs(self) -> list[dict]:
        self._administrator()
        return self._in_transaction(access.list_cutoffs)

    @rpc(expected_exceptions=IdentityError)
    def disable_account(self, account_id: str, reason: str | None = None) -> dict:
        caller = self._administrator()
        return self._in_transaction(access.disable_account, self.events, account_id, reason, caller.account_id)
