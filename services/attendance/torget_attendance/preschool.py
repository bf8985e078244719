"""Preschool check-in and check-out of a child, registered by staff at the child's unit."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from torget_attendance import parsing
from torget_attendance.access import child_unit_of_staff, child_visible_to
from torget_attendance.errors import Conflict, InvalidRequest, NotFound
from torget_attendance.models import preschool_visits
from torget_attendance.schooltime import local_date

# A check-in or check-out may be registered afterwards, but not later than this.
MAX_BACKDATING = timedelta(hours=12)


def _moment(data: dict, field: str, now: datetime) -> datetime:
    if data.get(field) is None:
        return now
    moment = parsing.aware_datetime(data[field], field)
    if moment > now + timedelta(minutes=5):
        raise InvalidRequest("in_the_future", field)
    if moment < now - MAX_BACKDATING:
        raise InvalidRequest("too_far_back", field, {"max_hours": 12})
    return moment


def _child_unit(directory, person_id: str, child_person_id: str) -> str:
    """Return the child's unit where the caller has a duty.

    A child placed at no such unit raises the same NotFound as an unknown
    child, so staff elsewhere learn nothing of where a child is placed.
    """
    unit_id = child_unit_of_staff(directory, person_id, directory.child_context(child_person_id))
    if unit_id is None:
        raise NotFound("child_not_found", "child_person_id")
    return unit_id


# NOTE: two concurrent check-ins of one child can both find no open visit,
# because FOR UPDATE locks no row when none exists, and both are stored.
def _open_visit(session: Session, child_person_id: str):
    return session.execute(
        select(preschool_visits)
        .where(preschool_visits.c.child_person_id == child_person_id, preschool_visits.c.checked_out_at.is_(None))
        .with_for_update()
    ).first()


def _last_check_out(session: Session, child_person_id: str) -> datetime | None:
    """Return when the child's latest closed visit ended, so a backdated check-in cannot overlap it."""
    return session.scalar(
        select(func.max(preschool_visits.c.checked_out_at)).where(preschool_visits.c.child_person_id == child_person_id)
    )


def check_in(session: Session, directory, person_id: str, data: dict, now: datetime) -> dict:
    """Open a visit of a child. A child already checked in, or a check-in before the last check-out, is rejected."""
    child_person_id = parsing.text(data, "child_person_id", 64)
    unit_id = _child_unit(directory, person_id, child_person_id)
    checked_in_at = _moment(data, "at", now)
    if _open_visit(session, child_person_id) is not None:
        raise Conflict("already_checked_in", "child_person_id")
    last_check_out = _last_check_out(session, child_person_id)
    if last_check_out is not None and checked_in_at < last_check_out:
        raise InvalidRequest("before_last_check_out", "at", {"checked_out_at": last_check_out.isoformat()})

    visit_id = str(uuid.uuid4())
    session.execute(
        insert(preschool_visits).values(
            id=visit_id,
            child_person_id=child_person_id,
            unit_id=unit_id,
            local_date=local_date(checked_in_at),
            checked_in_at=checked_in_at,
            checked_in_by=person_id,
        )
    )
    return _describe(session, visit_id)


def check_out(session: Session, directory, person_id: str, data: dict, now: datetime) -> dict:
    """Close the open visit of a child."""
    child_person_id = parsing.text(data, "child_person_id", 64)
    _child_unit(directory, person_id, child_person_id)
    checked_out_at = _moment(data, "at", now)
    visit = _open_visit(session, child_person_id)
    if visit is None:
        raise Conflict("not_checked_in", "child_person_id")
    if checked_out_at <= visit.checked_in_at:
        raise InvalidRequest("ends_before_start", "at")

    session.execute(
        update(preschool_visits)
        .where(preschool_visits.c.id == visit.id)
        .values(checked_out_at=checked_out_at, checked_out_by=person_id)
    )
    return _describe(session, visit.id)


def _describe(session: Session, visit_id: str) -> dict:
    row = session.execute(select(preschool_visits).where(preschool_visits.c.id == visit_id)).one()
    return describe_visit(row)


def describe_visit(row) -> dict:
    return {
        "id": row.id,
        "child_person_id": row.child_person_id,
        "unit_id": row.unit_id,
        "local_date": row.local_date.isoformat(),
        "checked_in_at": row.checked_in_at.isoformat(),
        "checked_out_at": row.checked_out_at.isoformat() if row.checked_out_at else None,
    }


def visits_for_child(session: Session, directory, person_id: str, child_person_id: str, first, last) -> list[dict]:
    """Return a child's visits, for staff at the child's unit and guardians with custody."""
    if child_unit_of_staff(directory, person_id, directory.child_context(child_person_id)) is None:
        child_visible_to(directory, person_id, child_person_id)
    first_date, last_date = parsing.period(first, last)
    rows = session.execute(
        select(preschool_visits)
        .where(
            preschool_visits.c.child_person_id == child_person_id,
            preschool_visits.c.local_date >= first_date,
            preschool_visits.c.local_date <= last_date,
        )
        .order_by(preschool_visits.c.checked_in_at)
    )
    return [describe_visit(row) for row in rows]
