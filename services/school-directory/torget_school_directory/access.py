"""Who may see what in the directory.

A guardian sees the children in their custody (SS 12000 relationType
Vårdnadshavare). Staff see the units where they have a current duty, the
groups of those units and the children placed there. An account with the
administrator role sees everything. Any other request is answered as if the
object did not exist, so a response never reveals that it does.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, exists, or_, select

from torget_shared.caller import ACCOUNT, Caller

from torget_school_directory import ss12000
from torget_school_directory.models import duties, guardianships, persons, placements

ADMINISTRATOR_ROLE = "administrator"


class NotFound(LookupError):
    """The object does not exist, or the caller may not see it."""


class InvalidRequest(ValueError):
    """The request's arguments are invalid; the message names the argument and the reason."""


class InternalOnly(PermissionError):
    """An RPC meant for other services was called on behalf of a client."""


@dataclass(frozen=True)
class Viewer:
    """The person behind a request, as the directory's access rules need it."""

    person_id: str | None
    is_administrator: bool = False

    @classmethod
    def from_caller(cls, caller: Caller) -> "Viewer":
        if caller.kind != ACCOUNT:
            return cls(None)
        return cls(caller.person_id, caller.has_role(ADMINISTRATOR_ROLE))


def current(table, today: date):
    """Return the condition that a row with start_date, end_date and removed_at is in force on ``today``."""
    return and_(
        table.c.start_date <= today,
        or_(table.c.end_date.is_(None), table.c.end_date >= today),
        table.c.removed_at.is_(None),
    )


def in_custody():
    return and_(guardianships.c.ended_at.is_(None), guardianships.c.relation_type == ss12000.CUSTODY)


def custody_children(connection, guardian_id: str) -> list[str]:
    statement = (
        select(guardianships.c.child_id)
        .join(persons, persons.c.id == guardianships.c.child_id)
        .where(guardianships.c.guardian_id == guardian_id, in_custody(), persons.c.removed_at.is_(None))
        .order_by(guardianships.c.child_id)
    )
    return list(connection.scalars(statement))


def is_guardian(connection, guardian_id: str | None, child_id: str | None) -> bool:
    if not guardian_id or not child_id:
        return False
    statement = select(
        exists().where(guardianships.c.guardian_id == guardian_id, guardianships.c.child_id == child_id, in_custody())
    )
    return bool(connection.scalar(statement))


def duty_unit_ids(connection, person_id: str | None, today: date) -> set[str]:
    if not person_id:
        return set()
    statement = select(duties.c.unit_id).where(duties.c.person_id == person_id, current(duties, today))
    return set(connection.scalars(statement))


def is_principal(connection, person_id: str | None, unit_id: str, today: date) -> bool:
    if not person_id:
        return False
    statement = select(
        exists().where(
            duties.c.person_id == person_id,
            duties.c.unit_id == unit_id,
            duties.c.duty_role.in_(ss12000.PRINCIPAL_DUTY_ROLES),
            current(duties, today),
        )
    )
    return bool(connection.scalar(statement))


def staff_sees_child(connection, staff_id: str | None, child_id: str, today: date) -> bool:
    """Return whether the staff member has a current duty at a unit where the child is currently placed."""
    units = duty_unit_ids(connection, staff_id, today)
    if not units:
        return False
    statement = select(
        exists().where(
            placements.c.child_id == child_id, placements.c.school_unit_id.in_(sorted(units)), current(placements, today)
        )
    )
    return bool(connection.scalar(statement))


def may_see_child(connection, viewer: Viewer, child_id: str, today: date) -> bool:
    return (
        viewer.is_administrator
        or is_guardian(connection, viewer.person_id, child_id)
        or staff_sees_child(connection, viewer.person_id, child_id, today)
    )


def may_see_unit(connection, viewer: Viewer, unit_id: str, today: date) -> bool:
    return viewer.is_administrator or unit_id in duty_unit_ids(connection, viewer.person_id, today)
