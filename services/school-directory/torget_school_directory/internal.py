"""Queries that other services make by RPC: who a person is at login, a child's context.

They serve the platform, not a viewer, so the service class accepts them
only from other services.
"""

from datetime import date

from sqlalchemy import select

from torget_school_directory import access, queries
from torget_school_directory.access import NotFound
from torget_school_directory.models import duties, guardianships, persons, placements
from torget_school_directory.pin import PinProtector, parse_pin
from torget_school_directory.publishing import is_protected


def person_roles(connection, protector: PinProtector, personal_identity_number: str, today: date) -> dict | None:
    """Return what the platform's roles of the person with this number rest on, or None if unknown.

    ``guardian_of`` lists the children in the person's custody who have a
    current placement or enrolment at a unit of the directory; ``duties`` the
    person's current duties. Raises InvalidRequest for an invalid number.
    """
    try:
        pin = parse_pin(personal_identity_number)
    except ValueError as exc:
        raise access.InvalidRequest(f"invalid personal identity number: {exc}") from None

    person = connection.execute(
        select(persons).where(persons.c.pin_hash == protector.lookup_hash(pin.value), persons.c.removed_at.is_(None))
    ).first()
    if person is None:
        return None

    placed_children = (
        select(guardianships.c.child_id)
        .join(placements, placements.c.child_id == guardianships.c.child_id)
        .where(guardianships.c.guardian_id == person.id, access.in_custody(), access.current(placements, today))
        .distinct()
        .order_by(guardianships.c.child_id)
    )
    current_duties = (
        select(duties.c.unit_id, duties.c.duty_role)
        .where(duties.c.person_id == person.id, access.current(duties, today))
        .order_by(duties.c.unit_id, duties.c.duty_role)
    )
    return {
        "person_id": person.id,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "protected_identity": is_protected(person.security_marking),
        "guardian_of": list(connection.scalars(placed_children)),
        "duties": [{"unit_id": row.unit_id, "duty_role": row.duty_role} for row in connection.execute(current_duties)],
    }


def child_context(connection, child_id: str, today: date) -> dict:
    """Return the child's current units and groups and the guardians with custody."""
    child = connection.execute(select(persons).where(persons.c.id == child_id, persons.c.removed_at.is_(None))).first()
    if child is None:
        raise NotFound("child not found")

    guardian_rows = connection.execute(
        select(persons)
        .join(guardianships, guardianships.c.guardian_id == persons.c.id)
        .where(guardianships.c.child_id == child_id, access.in_custody(), persons.c.removed_at.is_(None))
        .order_by(persons.c.id)
    )
    units = [
        {key: placement[key] for key in ("unit_id", "unit_name", "school_type", "school_year", "placement_id")}
        for placement in queries.current_placements(connection, [child_id], today)[child_id]
    ]
    return {
        "child_person_id": child.id,
        "given_name": child.given_name,
        "family_name": child.family_name,
        "protected_identity": is_protected(child.security_marking),
        "units": units,
        "groups": queries.current_groups(connection, [child_id], today)[child_id],
        "guardians": [
            {
                "person_id": row.id,
                "given_name": row.given_name,
                "family_name": row.family_name,
                "protected_identity": is_protected(row.security_marking),
            }
            for row in guardian_rows
        ],
    }


def unit_staff(connection, unit_id: str, today: date) -> list[dict]:
    """Return the staff with a current duty at the unit, each once with all their duty roles there.

    A staff member with protected identity is listed without a name, so a
    service that shows the list to guardians shows no name to hide.
    """
    rows = connection.execute(
        select(persons, duties.c.duty_role)
        .join(duties, duties.c.person_id == persons.c.id)
        .where(duties.c.unit_id == unit_id, access.current(duties, today), persons.c.removed_at.is_(None))
        .order_by(persons.c.family_name, persons.c.given_name, persons.c.id, duties.c.duty_role)
    )
    staff: dict[str, dict] = {}
    for row in rows:
        entry = staff.get(row.id)
        if entry is None:
            protected = is_protected(row.security_marking)
            entry = staff[row.id] = {
                "person_id": row.id,
                "given_name": None if protected else row.given_name,
                "family_name": None if protected else row.family_name,
                "protected_identity": protected,
                "duty_roles": [],
            }
        if row.duty_role not in entry["duty_roles"]:
            entry["duty_roles"].append(row.duty_role)
    return list(staff.values())
