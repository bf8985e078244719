"""Sessions: one per login, carried forward by rotating refresh tokens.

A refresh token is an opaque random string, stored only as a keyed hash. Each
use returns a new refresh token and marks the old one used. A used token
presented again means that two parties hold it, so the whole session (every
token descended from the same login) is revoked. A session ends after
``refresh_idle_ttl`` seconds without a refresh and ``refresh_absolute_ttl``
seconds after its login, whichever comes first.
"""

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from torget_identity.access import roles_with_access
from torget_identity.errors import Forbidden, Unauthenticated
from torget_identity.models import ACTIVE, DISABLED, accounts, refresh_tokens, sessions
from torget_identity.protection import Protector, new_token
from torget_identity.settings import IdentitySettings
from torget_identity.tokens import issue_access_token
from torget_shared.db import utcnow

log = logging.getLogger(__name__)


def _refresh_hash(protector: Protector, token: str) -> str:
    return protector.lookup_hash("refresh_token", token)


def _issue_refresh_token(session: Session, protector: Protector, session_id: str, now: datetime) -> str:
    token = new_token()
    session.execute(
        insert(refresh_tokens).values(token_hash=_refresh_hash(protector, token), session_id=session_id, created_at=now)
    )
    return token


def _token_response(session: Session, protector, settings, account, roles, session_row, refresh_token: str) -> dict:
    access_token, lifetime = issue_access_token(
        session,
        protector,
        settings,
        account_id=account.id,
        person_id=account.person_id,
        roles=roles,
        assurance=session_row.assurance,
        session_id=session_row.id,
        authenticated_at=session_row.authenticated_at,
    )
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": refresh_token,
        "refresh_expires_at": session_row.idle_expires_at.isoformat(),
        "session_id": session_row.id,
        "account_id": account.id,
        "roles": roles,
        "assurance": session_row.assurance,
    }


def start_session(session: Session, protector: Protector, settings: IdentitySettings, account, assurance: str) -> dict:
    """Open a session for ``account`` after a login and return its tokens.

    Raises access_ended when every role of the account is cut off.
    """
    roles = roles_with_access(session, list(account.roles))
    now = utcnow()
    session_id = str(uuid.uuid4())
    absolute = now + timedelta(seconds=settings.refresh_absolute_ttl)
    session.execute(
        insert(sessions).values(
            id=session_id,
            account_id=account.id,
            assurance=assurance,
            authenticated_at=now,
            last_refreshed_at=now,
            idle_expires_at=min(now + timedelta(seconds=settings.refresh_idle_ttl), absolute),
            absolute_expires_at=absolute,
        )
    )
    refresh_token = _issue_refresh_token(session, protector, session_id, now)
    session_row = session.execute(select(sessions).where(sessions.c.id == session_id)).one()
    log.info(
        "login succeeded",
        extra={"account_id": account.id, "session_id": session_id, "assurance": assurance},
    )
    return _token_response(session, protector, settings, account, roles, session_row, refresh_token)


def _revoke(session: Session, session_id: str, reason: str) -> None:
    session.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
    )


def refresh_session(session: Session, protector: Protector, settings: IdentitySettings, refresh_token: str) -> dict:
    """Exchange a refresh token for new tokens.

    Failures that change state (a reused token revokes its session) raise an
    IdentityError with ``keep_changes`` set, so the caller commits first.
    """
    token_row = session.execute(
        select(refresh_tokens)
        .where(refresh_tokens.c.token_hash == _refresh_hash(protector, refresh_token))
        .with_for_update()
    ).first()
    if token_row is None:
        log.info("refresh failed: unknown refresh token")
        raise Unauthenticated("refresh_token_invalid")

    session_row = session.execute(select(sessions).where(sessions.c.id == token_row.session_id).with_for_update()).one()
    context = {"session_id": session_row.id, "account_id": session_row.account_id}

    if token_row.used_at is not None:
        _revoke(session, session_row.id, "refresh_token_reused")
        log.warning("refresh token reused: session revoked", extra=context)
        raise _kept(Unauthenticated("refresh_token_reused"))
    if session_row.revoked_at is not None:
        log.info("refresh failed: session ended", extra=context)
        raise Unauthenticated("session_ended")

    now = utcnow()
    if now >= session_row.idle_expires_at or now >= session_row.absolute_expires_at:
        _revoke(session, session_row.id, "expired")
        log.info("refresh failed: session expired", extra=context)
        raise _kept(Unauthenticated("session_expired"))

    account = session.execute(select(accounts).where(accounts.c.id == session_row.account_id)).one()
    if account.status != ACTIVE:
        _revoke(session, session_row.id, "account_disabled" if account.status == DISABLED else "account_inactive")
        log.info("refresh failed: account not active", extra=context)
        raise _kept(Forbidden("account_disabled"))

    try:
        roles = roles_with_access(session, list(account.roles))
    except Forbidden as exc:
        _revoke(session, session_row.id, "access_ended")
        log.info("refresh failed: access ended for the account's roles", extra=context)
        raise _kept(exc) from None

    session.execute(update(refresh_tokens).where(refresh_tokens.c.token_hash == token_row.token_hash).values(used_at=now))
    idle_expires_at = min(now + timedelta(seconds=settings.refresh_idle_ttl), session_row.absolute_expires_at)
    session.execute(
        update(sessions)
        .where(sessions.c.id == session_row.id)
        .values(last_refreshed_at=now, idle_expires_at=idle_expires_at)
    )
    new_refresh_token = _issue_refresh_token(session, protector, session_row.id, now)
    session_row = session.execute(select(sessions).where(sessions.c.id == session_row.id)).one()
    log.info("session refreshed", extra=context)
    return _token_response(session, protector, settings, account, roles, session_row, new_refresh_token)


def logout(session: Session, protector: Protector, *, refresh_token: str | None, session_id: str | None, account_id: str | None) -> dict:
    """End the session named by a refresh token, or the caller's own session."""
    if refresh_token:
        row = session.execute(
            select(refresh_tokens.c.session_id).where(refresh_tokens.c.token_hash == _refresh_hash(protector, refresh_token))
        ).first()
        if row is None:
            raise Unauthenticated("refresh_token_invalid")
        session_id = row.session_id
    elif session_id is None or account_id is None:
        raise Unauthenticated("login_required")
    else:
        owned = session.execute(
            select(sessions.c.id).where(sessions.c.id == session_id, sessions.c.account_id == account_id)
        ).first()
        if owned is None:
            raise Unauthenticated("session_ended")

    _revoke(session, session_id, "logout")
    log.info("logout", extra={"session_id": session_id})
    return {"session_id": session_id, "logged_out": True}


def require_recent_login(session: Session, settings: IdentitySettings, *, session_id: str | None, account_id: str) -> None:
    """Raise recent_login_required unless the caller's session logged in within ``settings.recent_login`` seconds."""
    row = None
    if session_id:
        row = session.execute(
            select(sessions).where(sessions.c.id == session_id, sessions.c.account_id == account_id)
        ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("session_ended")
    if utcnow() - row.authenticated_at > timedelta(seconds=settings.recent_login):
        raise Unauthenticated("recent_login_required", minutes=int(settings.recent_login // 60))


def _kept(error):
    error.keep_changes = True
    return error
