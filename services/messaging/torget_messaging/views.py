"""Views of absence notices and deliveries for guardians and staff.

Addresses (mobile numbers, e-mail addresses) never leave the service through
these views: staff see each guardian's delivery states, not where the
notices went. A guardian with protected identity is shown to staff without
a name.
"""

import logging
import re
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from torget_messaging import ledger, read_model
from torget_messaging.errors import DirectoryUnavailable, Forbidden, NotFound, Unauthenticated
from torget_messaging.models import absence_notice, delivery, notice_guardian
from torget_shared.caller import ACCOUNT, SERVICE, Caller
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

# An e-mail address or a phone number inside a provider's error text.
ADDRESS_PATTERN = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+|\+?\d[\d \-]{6,}\d")

STAFF_ROLE = "staff"
GUARDIAN_ROLE = "guardian"


def require_guardian(caller: Caller) -> str:
    """Return the calling guardian's person id, or raise."""
    if caller.kind != ACCOUNT or not caller.person_id:
        raise Unauthenticated("login_required")
    if not caller.has_role(GUARDIAN_ROLE):
        raise Forbidden("guardian_role_required")
    return caller.person_id


def require_staff_role(caller: Caller) -> None:
    """Raise unless the caller is a logged-in account with the staff role, or another service."""
    if caller.kind == SERVICE:
        return
    if caller.kind != ACCOUNT or not caller.person_id:
        raise Unauthenticated("login_required")
    if not caller.has_role(STAFF_ROLE):
        raise Forbidden("staff_role_required")


def require_staff_of_unit(caller: Caller, unit_id: str, staff_assignments) -> dict | None:
    """Raise unless the caller is staff with a duty at ``unit_id``; return their assignments.

    ``staff_assignments(person_id)`` returns the school directory's reply of
    that name, whose ``units`` lists one entry per current duty. Another
    service passes without a check and gets None.
    """
    if caller.kind == SERVICE:
        return None
    require_staff_role(caller)
    try:
        assignments = staff_assignments(caller.person_id)
    except Exception as exc:
        log.warning("staff assignments could not be read from the school directory: %s", exc)
        raise DirectoryUnavailable("directory_unavailable") from exc
    duties = (assignments or {}).get("units") or []
    if not any(str(duty.get("unit_id")) == str(unit_id) for duty in duties):
        raise Forbidden("no_duty_at_unit", {"unit_id": unit_id})
    return assignments


def pending_of_event(session: Session, event_id: str, channel: str | None = None) -> list[str]:
    query = select(delivery.c.delivery_id).where(delivery.c.event_id == event_id, delivery.c.state == ledger.PENDING)
    if channel is not None:
        query = query.where(delivery.c.channel == channel)
    return list(session.execute(query).scalars())


def _notice(row) -> dict:
    return {
        "notice_id": row.notice_id,
        "registration_id": row.registration_id,
        "child_person_id": row.child_person_id,
        "unit_id": row.unit_id,
        "lesson_name": row.lesson_name,
        "local_date": row.local_date.isoformat() if row.local_date else None,
        "local_start_time": row.local_start_time,
        "local_end_time": row.local_end_time,
        "kind": row.kind,
        "late_minutes": row.late_minutes,
        "state": row.state,
    }


def notices_of_guardian(session: Session, guardian_person_id: str, limit: int = 50) -> list[dict]:
    rows = session.execute(
        select(absence_notice, notice_guardian.c.acknowledged_at)
        .join(notice_guardian, notice_guardian.c.notice_id == absence_notice.c.notice_id)
        .where(notice_guardian.c.guardian_person_id == guardian_person_id)
        .order_by(absence_notice.c.local_date.desc(), absence_notice.c.local_start_time.desc())
        .limit(max(1, min(int(limit), 200)))
    ).all()
    return [
        {**_notice(row), "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None}
        for row in rows
    ]


def acknowledge(session: Session, notice_id: str, guardian_person_id: str) -> dict:
    """Record the guardian's acknowledgement once; a repeated call keeps the first time."""
    row = session.execute(
        select(notice_guardian).where(
            notice_guardian.c.notice_id == notice_id, notice_guardian.c.guardian_person_id == guardian_person_id
        )
    ).first()
    if row is None:
        raise NotFound("notice_not_found", {"notice_id": notice_id})

    acknowledged_at = row.acknowledged_at
    if acknowledged_at is None:
        acknowledged_at = utcnow()
        session.execute(
            update(notice_guardian)
            .where(
                notice_guardian.c.notice_id == notice_id,
                notice_guardian.c.guardian_person_id == guardian_person_id,
                notice_guardian.c.acknowledged_at.is_(None),
            )
            .values(acknowledged_at=acknowledged_at)
        )
    return {"notice_id": notice_id, "acknowledged_at": acknowledged_at.isoformat()}


def _guardian_name(names: dict, person_id: str) -> str | None:
    given_name, family_name, protected = names.get(person_id, (None, None, False))
    if protected or given_name is None:
        return None
    return " ".join(part for part in (given_name, family_name) if part)


def notices_of_unit(session: Session, unit_id: str, local_date: str | None = None) -> list[dict]:
    query = select(absence_notice).where(absence_notice.c.unit_id == unit_id)
    if local_date:
        query = query.where(absence_notice.c.local_date == date.fromisoformat(local_date))
    notices = session.execute(query.order_by(absence_notice.c.local_date.desc(), absence_notice.c.created_at.desc()).limit(500)).all()
    if not notices:
        return []

    notice_ids = [row.notice_id for row in notices]
    guardians = session.execute(select(notice_guardian).where(notice_guardian.c.notice_id.in_(notice_ids))).all()
    deliveries = session.execute(
        select(delivery.c.notice_id, delivery.c.recipient, delivery.c.channel, delivery.c.kind, delivery.c.state, delivery.c.last_error)
        .where(delivery.c.notice_id.in_(notice_ids))
    ).all()
    names = read_model.person_names(session, [row.guardian_person_id for row in guardians])

    result = []
    for notice in notices:
        entry = _notice(notice)
        entry["guardians"] = []
        for guardian in (row for row in guardians if row.notice_id == notice.notice_id):
            _, _, protected = names.get(guardian.guardian_person_id, (None, None, False))
            entry["guardians"].append(
                {
                    "guardian_person_id": guardian.guardian_person_id,
                    "name": _guardian_name(names, guardian.guardian_person_id),
                    "protected_identity": protected,
                    "acknowledged_at": guardian.acknowledged_at.isoformat() if guardian.acknowledged_at else None,
                    "deliveries": [
                        {"channel": row.channel, "kind": row.kind, "state": row.state, "reason": _reason(row)}
                        for row in deliveries
                        if row.notice_id == notice.notice_id and row.recipient == guardian.guardian_person_id
                    ],
                }
            )
        result.append(entry)
    return result


def staff_reason(error: str | None) -> str | None:
    """Return a delivery's error text for staff, with e-mail addresses and phone numbers replaced.

    Providers name the recipient in their errors (an SMTP server's "RCPT
    TO <address> rejected"), and staff see the reason but not the address.
    """
    if error is None:
        return None
    return ADDRESS_PATTERN.sub("[recipient]", error)


def _reason(row) -> str | None:
    if row.state not in (ledger.FAILED, ledger.SKIPPED, ledger.CANCELLED):
        return None
    return staff_reason(row.last_error)


def failed_of_unit(session: Session, unit_id: str) -> list[dict]:
    rows = session.execute(
        select(delivery, absence_notice.c.child_person_id, absence_notice.c.local_date, absence_notice.c.lesson_name)
        .join(absence_notice, absence_notice.c.notice_id == delivery.c.notice_id)
        .where(absence_notice.c.unit_id == unit_id, delivery.c.state == ledger.FAILED)
        .order_by(delivery.c.updated_at.desc())
        .limit(500)
    ).all()
    names = read_model.person_names(session, [row.recipient for row in rows])
    return [
        {
            "delivery_id": row.delivery_id,
            "notice_id": row.notice_id,
            "kind": row.kind,
            "channel": row.channel,
            "child_person_id": row.child_person_id,
            "lesson_name": row.lesson_name,
            "local_date": row.local_date.isoformat() if row.local_date else None,
            "guardian_person_id": row.recipient,
            "guardian_name": _guardian_name(names, row.recipient),
            "attempts": row.attempts,
            "reason": staff_reason(row.last_error),
            "failed_at": row.updated_at.isoformat(),
        }
        for row in rows
    ]
