"""Contact details: a verified e-mail address, a mobile number for SMS, language and notice preferences.

Changing the e-mail address or the mobile number needs a recent login, so a
stolen refresh token alone cannot redirect a family's notices. Every change
publishes ``contact_details_changed`` with the full details for messaging's
read model.

Mobile numbers are stored in E.164 form. Only numbers of the regions in
``sms_regions`` (Sweden by default) are accepted, because the SMS provider
of the municipality sends to those; a guardian with a foreign number gets
notices by e-mail.
"""

import logging
import re
from datetime import timedelta
from urllib.parse import urlencode

import phonenumbers
from sqlalchemy import insert, select, update

from torget_identity.errors import Conflict, Forbidden, Gone, InvalidRequest, NotFound
from torget_identity.models import ACTIVE, accounts, email_verifications
from torget_identity.ports import Ports
from torget_identity.protection import new_token
from torget_identity.sessions import require_recent_login
from torget_identity.settings import IdentitySettings
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

# A pragmatic check of the address form; the verification link proves the rest.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
DEFAULT_REGION = "SE"
VERIFY_PATH = "/verify-email"


def normalize_mobile(raw: str, settings: IdentitySettings) -> str:
    """Return ``raw`` in E.164 form, or raise mobile_invalid, mobile_not_mobile or mobile_region_not_accepted."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 40:
        raise InvalidRequest("mobile_invalid")
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise InvalidRequest("mobile_invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidRequest("mobile_invalid")
    region = phonenumbers.region_code_for_number(number)
    if region not in settings.sms_regions:
        raise InvalidRequest("mobile_region_not_accepted", regions=", ".join(settings.sms_regions))
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise InvalidRequest("mobile_not_mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    email = (raw or "").strip() if isinstance(raw, str) else ""
    if len(email) > 254 or not EMAIL.match(email):
        raise InvalidRequest("email_invalid")
    local, domain = email.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _account(session, account_id: str, lock: bool = True):
    query = select(accounts).where(accounts.c.id == account_id)
    account = session.execute(query.with_for_update() if lock else query).first()
    if account is None:
        raise NotFound("account_not_found", account_id=account_id)
    if account.status != ACTIVE:
        raise Forbidden("account_disabled")
    return account


def contact_details(account) -> dict:
    return {
        "email": account.email,
        "mobile": account.mobile,
        "language": account.language,
        "preferences": {"sms": account.notify_sms, "email": account.notify_email},
    }


def _changed(session, ports: Ports, account_id: str) -> dict:
    """Publish contact_details_changed with the account's details as they are now; return them."""
    account = session.execute(select(accounts).where(accounts.c.id == account_id)).one()
    details = contact_details(account)
    ports.publish(
        session,
        "contact_details_changed",
        {
            "account_id": account.id,
            "person_id": account.person_id,
            **details,
            "protected_identity": account.protected_identity,
            "changed_at": utcnow().isoformat(),
        },
    )
    log.info("contact details changed", extra={"account_id": account.id})
    return details


def request_email_verification(ports: Ports, *, account_id: str, session_id: str | None, email: str) -> dict:
    """Store a one-time verification token and publish email_verification_requested with its link."""
    email = normalize_email(email)
    now = utcnow()
    expires_at = now + timedelta(seconds=ports.settings.email_verification_ttl)
    token = new_token()
    with ports.db.transaction() as session:
        require_recent_login(session, ports.settings, session_id=session_id, account_id=account_id)
        account = _account(session, account_id)
        session.execute(
            insert(email_verifications).values(
                token_hash=ports.protector.lookup_hash("email_verification", token),
                account_id=account_id,
                email=email,
                created_at=now,
                expires_at=expires_at,
            )
        )
        url = f"{ports.settings.public_base_url}{VERIFY_PATH}?{urlencode({'token': token})}"
        ports.publish(
            session,
            "email_verification_requested",
            {
                "account_id": account_id,
                "email": email,
                "language": account.language,
                "verification_url": url,
                "expires_at": expires_at.isoformat(),
            },
        )
    log.info("e-mail verification requested", extra={"account_id": account_id})
    return {"pending_email": email, "expires_at": expires_at.isoformat()}


def verify_email(ports: Ports, token: str) -> dict:
    """Make the address of a verification token the account's e-mail; each token works once."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise NotFound("verification_token_invalid")
    now = utcnow()
    with ports.db.transaction() as session:
        row = session.execute(
            select(email_verifications)
            .where(email_verifications.c.token_hash == ports.protector.lookup_hash("email_verification", token))
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound("verification_token_invalid")
        if row.used_at is not None:
            raise Conflict("verification_token_used")
        if now >= row.expires_at:
            raise Gone("verification_token_expired")
        _account(session, row.account_id)

        session.execute(
            update(email_verifications).where(email_verifications.c.token_hash == row.token_hash).values(used_at=now)
        )
        session.execute(update(accounts).where(accounts.c.id == row.account_id).values(email=row.email, updated_at=now))
        details = _changed(session, ports, row.account_id)
    log.info("e-mail verified", extra={"account_id": row.account_id})
    return {"account_id": row.account_id, **details}


def set_mobile(ports: Ports, *, account_id: str, session_id: str | None, mobile: str | None) -> dict:
    """Set the mobile number (None removes it); SMS notices stop when the number is removed."""
    normalized = None if mobile in (None, "") else normalize_mobile(mobile, ports.settings)
    with ports.db.transaction() as session:
        require_recent_login(session, ports.settings, session_id=session_id, account_id=account_id)
        account = _account(session, account_id)
        values = {"mobile": normalized, "updated_at": utcnow()}
        if normalized is None:
            values["notify_sms"] = False
        elif account.mobile is None:
            # A first mobile number is for SMS notices; the guardian may turn them off.
            values["notify_sms"] = True
        session.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
        return _changed(session, ports, account_id)


def remove_email(ports: Ports, *, account_id: str, session_id: str | None) -> dict:
    with ports.db.transaction() as session:
        require_recent_login(session, ports.settings, session_id=session_id, account_id=account_id)
        _account(session, account_id)
        session.execute(
            update(accounts).where(accounts.c.id == account_id).values(email=None, updated_at=utcnow())
        )
        return _changed(session, ports, account_id)


def set_preferences(ports: Ports, *, account_id: str, language: str | None = None, sms: bool | None = None, email: bool | None = None) -> dict:
    """Set the language of notices and which channels carry them."""
    values = {}
    if language is not None:
        if language not in ports.settings.notice_languages:
            raise InvalidRequest(
                "language_not_offered", language=str(language)[:10], languages=", ".join(ports.settings.notice_languages)
            )
        values["language"] = language
    with ports.db.transaction() as session:
        account = _account(session, account_id)
        if sms is not None:
            if sms and account.mobile is None:
                raise InvalidRequest("sms_needs_mobile")
            values["notify_sms"] = bool(sms)
        if email is not None:
            # Without a verified address this stays a wish until one is verified.
            values["notify_email"] = bool(email)
        if not values:
            return contact_details(account)
        session.execute(update(accounts).where(accounts.c.id == account_id).values(updated_at=utcnow(), **values))
        return _changed(session, ports, account_id)


def describe_account(ports: Ports, account_id: str) -> dict:
    """Return the account as its holder sees it: names, roles, login method and contact details."""
    with ports.db.transaction() as session:
        account = session.execute(select(accounts).where(accounts.c.id == account_id)).first()
        if account is None:
            raise NotFound("account_not_found", account_id=account_id)
        pending = session.execute(
            select(email_verifications.c.email)
            .where(
                email_verifications.c.account_id == account_id,
                email_verifications.c.used_at.is_(None),
                email_verifications.c.expires_at > utcnow(),
            )
            .order_by(email_verifications.c.created_at.desc())
        ).first()
    return {
        "account_id": account.id,
        "person_id": account.person_id,
        "given_name": account.given_name,
        "family_name": account.family_name,
        "roles": list(account.roles),
        "login_method": account.login_method,
        "status": account.status,
        "pending_email": pending.email if pending else None,
        **contact_details(account),
    }
