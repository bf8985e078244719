"""Accounts that staff create for guardians who cannot use BankID, and their password login.

A guardian without a Swedish personal identity number, with protected
identity, or without BankID gets an account from a staff member with a duty
at the child's unit. The staff member hands over a username and a one-time
activation code; the guardian activates the account by choosing a password.
A password login has the low assurance level "password".
"""

import logging
import secrets
import uuid
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update

from torget_identity.accounts import GUARDIAN, STAFF
from torget_identity.errors import Conflict, Forbidden, Gone, InvalidRequest, NotFound, Unauthenticated
from torget_identity.models import ACTIVE, DISABLED, LOGIN_PASSWORD, PENDING_ACTIVATION, accounts, activation_codes
from torget_identity.ports import Ports
from torget_identity.protection import new_code, normalize_code
from torget_identity.sessions import start_session
from torget_shared.caller import ASSURANCE_BANKID, ASSURANCE_PASSWORD, Caller
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

password_hasher = PasswordHasher()
# Verified against when the username is unknown, so both failures take as long.
_UNKNOWN_USER_HASH = password_hasher.hash(secrets.token_urlsafe(16))

USERNAME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
MAX_PASSWORD_LENGTH = 256


def _new_username() -> str:
    return "vh-" + "".join(secrets.choice(USERNAME_ALPHABET) for _ in range(8))


def _staff_duties(ports: Ports, staff) -> list[dict]:
    """Return the staff member's current duties, read from the directory."""
    if not staff.personal_number_encrypted:
        return list(staff.duties or [])
    personal_number = ports.protector.decrypt_personal_number(staff.personal_number_encrypted)
    return ports.directory.person_roles(personal_number).get("duties") or []


def create_guardian_account(
    ports: Ports,
    caller: Caller,
    *,
    guardian_person_id: str,
    child_person_id: str,
    unit_id: str,
    given_name: str,
    family_name: str,
    language: str = "sv",
) -> dict:
    """Create a password account for a guardian and return its username and one-time activation code.

    The caller must be staff, logged in with BankID, with a current duty at
    ``unit_id``; the directory must place ``child_person_id`` at that unit
    and name ``guardian_person_id`` the child's guardian.
    """
    if not caller.has_bankid or STAFF not in caller.roles:
        raise Forbidden("staff_bankid_required")
    given_name, family_name = (given_name or "").strip(), (family_name or "").strip()
    if not given_name or not family_name or len(given_name) > 200 or len(family_name) > 200:
        raise InvalidRequest("name_invalid")
    if language not in ports.settings.notice_languages:
        raise InvalidRequest("language_not_offered", language=language, languages=", ".join(ports.settings.notice_languages))

    with ports.db.transaction() as session:
        staff = session.execute(select(accounts).where(accounts.c.id == caller.account_id)).first()
    if staff is None or staff.status != ACTIVE:
        raise Forbidden("staff_bankid_required")

    if not any(duty.get("unit_id") == unit_id for duty in _staff_duties(ports, staff)):
        log.info("staff lacks a duty at the unit", extra={"account_id": caller.account_id, "unit_id": unit_id})
        raise Forbidden("not_staff_of_unit", unit_id=unit_id)
    if unit_id not in ports.directory.child_unit_ids(child_person_id):
        log.info("child not placed at the unit", extra={"account_id": caller.account_id, "unit_id": unit_id})
        raise InvalidRequest("child_not_at_unit", unit_id=unit_id)
    if not ports.directory.is_guardian(guardian_person_id, child_person_id):
        raise InvalidRequest("not_guardian_of_child")

    code = new_code()
    now = utcnow()
    account_id = str(uuid.uuid4())
    expires_at = now + timedelta(seconds=ports.settings.activation_code_ttl)
    with ports.db.transaction() as session:
        existing = session.execute(
            select(accounts.c.id).where(accounts.c.person_id == guardian_person_id, accounts.c.status != DISABLED)
        ).first()
        if existing is not None:
            raise Conflict("account_exists")

        username = _new_username()
        session.execute(
            insert(accounts).values(
                id=account_id,
                person_id=guardian_person_id,
                given_name=given_name,
                family_name=family_name,
                login_method=LOGIN_PASSWORD,
                username=username,
                failed_password_attempts=0,
                status=PENDING_ACTIVATION,
                roles=[GUARDIAN],
                duties=[],
                protected_identity=False,
                language=language,
                notify_email=True,
                notify_sms=False,
                created_by_account_id=caller.account_id,
                created_at=now,
                updated_at=now,
            )
        )
        session.execute(
            insert(activation_codes).values(
                account_id=account_id,
                code_hash=ports.protector.lookup_hash("activation_code", code),
                expires_at=expires_at,
                failed_attempts=0,
                child_person_id=child_person_id,
                unit_id=unit_id,
                created_at=now,
            )
        )
        ports.publish(
            session,
            "account_created",
            {
                "account_id": account_id,
                "person_id": guardian_person_id,
                "roles": [GUARDIAN],
                "login_method": LOGIN_PASSWORD,
                "protected_identity": False,
                "created_at": now.isoformat(),
            },
        )
    log.info(
        "password account created by staff",
        extra={"account_id": account_id, "by_account_id": caller.account_id, "unit_id": unit_id},
    )
    return {
        "account_id": account_id,
        "username": username,
        "activation_code": code,
        "activation_expires_at": expires_at.isoformat(),
    }


def _check_password_rules(ports: Ports, password: str) -> None:
    if not isinstance(password, str) or len(password) < ports.settings.password_min_length:
        raise InvalidRequest("password_too_short", min_length=ports.settings.password_min_length)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest("password_too_long", max_length=MAX_PASSWORD_LENGTH)


def activate_account(ports: Ports, *, username: str, code: str, password: str) -> dict:
    """Check the activation code and set the password; lock after too many wrong codes.

    A wrong code raises activation_code_invalid with ``keep_changes``, so the
    caller commits the counted attempt.
    """
    _check_password_rules(ports, password)
    now = utcnow()
    with ports.db.transaction() as session:
        row = session.execute(
            select(accounts.c.id, accounts.c.status, activation_codes)
            .join(activation_codes, activation_codes.c.account_id == accounts.c.id)
            .where(accounts.c.username == str(username or "").strip().lower())
            .with_for_update()
        ).first()
        if row is None:
            log.info("activation failed: unknown username")
            raise Unauthenticated("activation_code_invalid", remaining_attempts=None)
        context = {"account_id": row.id}
        if row.status == DISABLED:
            raise Forbidden("account_disabled")
        if row.used_at is not None:
            raise Conflict("account_already_activated")
        if row.locked_at is not None:
            log.info("activation rejected: locked", extra=context)
            raise Forbidden("activation_locked")
        if now >= row.expires_at:
            log.info("activation rejected: code expired", extra=context)
            raise Gone("activation_code_expired")

        expected = ports.protector.lookup_hash("activation_code", normalize_code(str(code or "")))
        if not secrets.compare_digest(expected, row.code_hash):
            failed = row.failed_attempts + 1
            locked = failed >= ports.settings.activation_max_attempts
            session.execute(
                update(activation_codes)
                .where(activation_codes.c.account_id == row.id)
                .values(failed_attempts=failed, locked_at=now if locked else None)
            )
            log.warning("activation code wrong", extra={**context, "failed_attempts": failed, "locked": locked})
            error = Forbidden("activation_locked") if locked else Unauthenticated(
                "activation_code_invalid", remaining_attempts=ports.settings.activation_max_attempts - failed
            )
            error.keep_changes = True
            raise error

        session.execute(update(activation_codes).where(activation_codes.c.account_id == row.id).values(used_at=now))
        session.execute(
            update(accounts)
            .where(accounts.c.id == row.id)
            .values(password_hash=password_hasher.hash(password), status=ACTIVE, updated_at=now)
        )
    log.info("account activated", extra=context)
    return {"account_id": row.id, "status": ACTIVE}


def login_with_password(ports: Ports, *, username: str, password: str) -> dict:
    """Log in a staff-created account with its password; the session has assurance "password"."""
    now = utcnow()
    with ports.db.transaction() as session:
        account = session.execute(
            select(accounts)
            .where(accounts.c.username == str(username or "").strip().lower(), accounts.c.login_method == LOGIN_PASSWORD)
            .with_for_update()
        ).first()
        if account is None or account.password_hash is None:
            _verify(_UNKNOWN_USER_HASH, str(password))
            log.info("password login failed: unknown or inactive username")
            raise Unauthenticated("invalid_credentials")
        context = {"account_id": account.id}
        if account.status == DISABLED:
            log.info("password login rejected: account disabled", extra=context)
            raise Forbidden("account_disabled")
        if account.password_locked_until is not None and now < account.password_locked_until:
            log.info("password login rejected: locked", extra=context)
            raise Forbidden("password_locked", until=account.password_locked_until.isoformat())

        if not _verify(account.password_hash, str(password)):
            failed = account.failed_password_attempts + 1
            locked = failed >= ports.settings.password_max_attempts
            session.execute(
                update(accounts)
                .where(accounts.c.id == account.id)
                .values(
                    failed_password_attempts=0 if locked else failed,
                    password_locked_until=now + timedelta(seconds=ports.settings.password_lock) if locked else None,
                )
            )
            log.warning("password login failed: wrong password", extra={**context, "failed_attempts": failed})
            error = Unauthenticated("invalid_credentials")
            error.keep_changes = True
            raise error

        values = {"failed_password_attempts": 0, "password_locked_until": None}
        if password_hasher.check_needs_rehash(account.password_hash):
            values["password_hash"] = password_hasher.hash(password)
        session.execute(update(accounts).where(accounts.c.id == account.id).values(**values))
        return start_session(session, ports.protector, ports.settings, account, ASSURANCE_PASSWORD)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def reissue_activation_code(ports: Ports, caller: Caller, account_id: str) -> dict:
    """Give a pending account a new activation code, e.g. after it was locked or expired."""
    if not caller.has_bankid or STAFF not in caller.roles:
        raise Forbidden("staff_bankid_required")
    code = new_code()
    now = utcnow()
    expires_at = now + timedelta(seconds=ports.settings.activation_code_ttl)
    with ports.db.transaction() as session:
        row = session.execute(
            select(accounts.c.status, activation_codes.c.unit_id)
            .join(activation_codes, activation_codes.c.account_id == accounts.c.id)
            .where(accounts.c.id == account_id)
        ).first()
        staff = session.execute(select(accounts).where(accounts.c.id == caller.account_id)).first()
    if row is None:
        raise NotFound("account_not_found", account_id=account_id)
    if row.status != PENDING_ACTIVATION:
        raise Conflict("account_already_activated")
    if staff is None or not any(duty.get("unit_id") == row.unit_id for duty in _staff_duties(ports, staff)):
        raise Forbidden("not_staff_of_unit", unit_id=row.unit_id)

    with ports.db.transaction() as session:
        session.execute(
            update(activation_codes)
            .where(activation_codes.c.account_id == account_id)
            .values(
                code_hash=ports.protector.lookup_hash("activation_code", code),
                expires_at=expires_at,
                failed_attempts=0,
                locked_at=None,
            )
        )
    log.info("activation code reissued", extra={"account_id": account_id, "by_account_id": caller.account_id})
    return {"account_id": account_id, "activation_code": code, "activation_expires_at": expires_at.isoformat()}
