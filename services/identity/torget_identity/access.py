"""Access cut-off dates per role, disabled accounts, and the policy the gateway caches.

An administration sets the date from which a role (for example pupils or
guardians at the end of their time with the municipality) can no longer log
in or refresh. The date is a calendar date in Europe/Stockholm: access ends at
local midnight at its start.
"""

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from torget_identity.errors import Forbidden, InvalidRequest, NotFound
from torget_identity.models import DISABLED, access_cutoffs, accounts, sessions
from torget_identity.settings import IdentitySettings
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Seconds a revoked session stays in the policy beyond the access token lifetime.
REVOCATION_LEEWAY = 60


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(STOCKHOLM).date()


def ended_roles(session: Session, roles, now: datetime | None = None) -> dict[str, date]:
    """Return {role: cut-off date} for those of ``roles`` whose access has ended."""
    if not roles:
        return {}
    today = local_today(now)
    rows = session.execute(
        select(access_cutoffs.c.role, access_cutoffs.c.cutoff_date).where(access_cutoffs.c.role.in_(list(roles)))
    ).all()
    return {row.role: row.cutoff_date for row in rows if row.cutoff_date <= today}


def roles_with_access(session: Session, roles: list[str]) -> list[str]:
    """Return ``roles`` less those cut off; raise access_ended when none is left."""
    ended = ended_roles(session, roles)
    remaining = [role for role in roles if role not in ended]
    if roles and not remaining:
        role, cutoff_date = min(ended.items(), key=lambda item: item[1])
        raise Forbidden("access_ended", role=role, date=cutoff_date.isoformat())
    return remaining


def set_cutoff(session: Session, settings: IdentitySettings, role: str, cutoff_date: str, by_account_id: str | None) -> dict:
    if role not in settings.cutoff_roles:
        raise InvalidRequest("role_unknown", role=role, roles=", ".join(settings.cutoff_roles))
    try:
        parsed = date.fromisoformat(cutoff_date)
    except (TypeError, ValueError):
        raise InvalidRequest("date_invalid", value=str(cutoff_date)[:40]) from None

    session.execute(delete(access_cutoffs).where(access_cutoffs.c.role == role))
    session.execute(
        insert(access_cutoffs).values(role=role, cutoff_date=parsed, set_by_account_id=by_account_id, set_at=utcnow())
    )
    log.info("access cut-off set", extra={"role": role, "cutoff_date": parsed.isoformat(), "by_account_id": by_account_id})
    return {"role": role, "date": parsed.isoformat()}


def clear_cutoff(session: Session, role: str, by_account_id: str | None) -> None:
    deleted = session.execute(delete(access_cutoffs).where(access_cutoffs.c.role == role)).rowcount
    if not deleted:
        raise NotFound("cutoff_not_found", role=role)
    log.info("access cut-off removed", extra={"role": role, "by_account_id": by_account_id})


def list_cutoffs(session: Session) -> list[dict]:
    rows = session.execute(select(access_cutoffs).order_by(access_cutoffs.c.role)).all()
    return [
        {"role": row.role, "date": row.cutoff_date.isoformat(), "set_at": row.set_at.isoformat()} for row in rows
    ]


def revoke_sessions(session: Session, account_id: str, reason: str) -> int:
    """End every open session of an account; return how many were ended."""
    return session.execute(
        update(sessions)
        .where(sessions.c.account_id == account_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
    ).rowcount


def disable_account(session: Session, publish, account_id: str, reason: str | None, by_account_id: str | None) -> dict:
    """Disable an account, end all its sessions and publish account_disabled."""
    account = session.execute(select(accounts).where(accounts.c.id == account_id).with_for_update()).first()
    if account is None:
        raise NotFound("account_not_found", account_id=account_id)
    if account.status == DISABLED:
        return {"account_id": account_id, "status": DISABLED, "sessions_ended": 0}

    now = utcnow()
    session.execute(
        update(accounts).where(accounts.c.id == account_id).values(status=DISABLED, disabled_at=now, updated_at=now)
    )
    ended = revoke_sessions(session, account_id, "account_disabled")
    publish(
        session,
        "account_disabled",
        {"account_id": account_id, "person_id": account.person_id, "reason": reason, "disabled_at": now.isoformat()},
    )
    log.info(
        "account disabled",
        extra={"account_id": account_id, "sessions_ended": ended, "by_account_id": by_account_id},
    )
    return {"account_id": account_id, "status": DISABLED, "sessions_ended": ended}


def token_policy(session: Session, settings: IdentitySettings) -> dict:
    """Return what the gateway checks besides a token's signature.

    ``cutoffs``: {role: date} of every cut-off, past or future; the gateway
    drops a role from a token from its date on. ``revoked_sessions``: ids of
    sessions ended recently enough that access tokens of theirs may still be
    unexpired.
    """
    since = utcnow() - timedelta(seconds=settings.access_token_ttl + REVOCATION_LEEWAY)
    revoked = session.execute(select(sessions.c.id).where(sessions.c.revoked_at > since)).scalars().all()
    cutoffs = {row["role"]: row["date"] for row in list_cutoffs(session)}
    return {
        "cutoffs": cutoffs,
        "revoked_sessions": sorted(revoked),
        "timezone": str(STOCKHOLM),
    }
