"""Read queries of the directory, each checked against the viewer.

Every function takes a SQLAlchemy connection or session, the
:class:`~torget_school_directory.access.Viewer` and ``today`` (the school
date that decides what is current), and returns plain data. An object the
viewer may not see raises NotFound, exactly like a missing one.
"""

from datetime import date

from sqlalchemy import and_, or_, select

from torget_school_directory import access, ss12000
from torget_school_directory.access import NotFound, Viewer
from torget_school_directory.models import duties, group_memberships, groups, guardianships, organisations, persons, placements
from torget_school_directory.publishing import is_protected


def _iso(value):
    return value.isoformat() if value is not None else None


def current_membership(today: date):
    return and_(
        or_(group_memberships.c.start_date.is_(None), group_memberships.c.start_date <= today),
        or_(group_memberships.c.end_date.is_(None), group_memberships.c.end_date >= today),
    )


def _person(connection, person_id: str):
    return connection.execute(select(persons).where(persons.c.id == person_id, persons.c.removed_at.is_(None))).first()


def _person_summary(row) -> dict:
    return {
        "person_id": row.id,
        "given_name": row.given_name,
        "family_name": row.family_name,
        "protected_identity": is_protected(row.security_marking),
    }


def current_placements(connection, child_ids: list[str], today: date) -> dict[str, list[dict]]:
    statement = (
        select(placements, organisations.c.display_name.label("unit_name"))
        .join(organisations, organisations.c.id == placements.c.school_unit_id)
        .where(placements.c.child_id.in_(child_ids), access.current(placements, today))
        .order_by(placements.c.start_date, placements.c.id)
    )
    by_child: dict[str, list[dict]] = {child_id: [] for child_id in child_ids}
    for row in connection.execute(statement):
        by_child[row.child_id].append(
            {
                "placement_id": row.id,
                "unit_id": row.school_unit_id,
                "unit_name": row.unit_name,
                "school_type": row.school_type,
                "school_year": row.school_year,
                "start_date": _iso(row.start_date),
                "end_date": _iso(row.end_date),
            }
        )
    return by_child


def current_groups(connection, person_ids: list[str], today: date) -> dict[str, list[dict]]:
    statement = (
        select(group_memberships.c.person_id, groups)
        .join(groups, groups.c.id == group_memberships.c.group_id)
        .where(group_memberships.c.person_id.in_(person_ids), current_membership(today), access.current(groups, today))
        .order_by(groups.c.display_name, groups.c.id)
    )
    by_person: dict[str, list[dict]] = {person_id: [] for person_id in person_ids}
    for row in connection.execute(statement):
        by_person[row.person_id].append(_group_summary(row))
    return by_person


def _group_summary(row) -> dict:
    return {
        "group_id": row.id,
        "display_name": row.display_name,
        "group_type": row.group_type,
        "school_type": row.school_type,
        "unit_id": row.organisation_id,
    }


def guardian_children(connection, viewer: Viewer, guardian_id: str, today: date) -> list[dict]:
    """Return the children in the guardian's custody with their current units and groups."""
    if viewer.person_id != guardian_id and not viewer.is_administrator:
        raise NotFound("guardian not found")
    child_ids = access.custody_children(connection, guardian_id)
    if not child_ids:
        return []

    units = current_placements(connection, child_ids, today)
    child_groups = current_groups(connection, child_ids, today)
    rows = connection.execute(select(persons).where(persons.c.id.in_(child_ids)).order_by(persons.c.birth_date))
    return [
        {
            **_person_summary(row),
            "birth_date": _iso(row.birth_date),
            "placements": units[row.id],
            "groups": child_groups[row.id],
        }
        for row in rows
    ]


def child_guardians(connection, viewer: Viewer, child_id: str, today: date) -> list[dict]:
    """Return the child's guardians; staff and administrators also get their contact details."""
    if _person(connection, child_id) is None or not access.may_see_child(connection, viewer, child_id, today):
        raise NotFound("child not found")
    with_contact = viewer.is_administrator or access.staff_sees_child(connection, viewer.person_id, child_id, today)

    statement = (
        select(persons, guardianships.c.relation_type)
        .join(guardianships, guardianships.c.guardian_id == persons.c.id)
        .where(guardianships.c.child_id == child_id, guardianships.c.ended_at.is_(None), persons.c.removed_at.is_(None))
        .order_by(persons.c.family_name, persons.c.given_name, persons.c.id)
    )
    guardians = []
    for row in connection.execute(statement):
        guardian = {**_person_summary(row), "relation_type": row.relation_type, "custody": row.relation_type == ss12000.CUSTODY}
        if with_contact:
            guardian["emails"] = row.emails
            guardian["phone_numbers"] = row.phone_numbers
        guardians.append(guardian)
    return guardians


def _unit(connection, unit_id: str):
    return connection.execute(
        select(organisations).where(organisations.c.id == unit_id, organisations.c.removed_at.is_(None))
    ).first()


def unit_groups(connection, viewer: Viewer, unit_id: str, today: date) -> list[dict]:
    """Return the unit's current groups, for staff with a duty at the unit."""
    if _unit(connection, unit_id) is None or not access.may_see_unit(connection, viewer, unit_id, today):
        raise NotFound("unit not found")
    statement = (
        select(groups)
        .where(groups.c.organisation_id == unit_id, access.current(groups, today))
        .order_by(groups.c.display_name, groups.c.id)
    )
    return [_group_summary(row) for row in connection.execute(statement)]


def group_members(connection, viewer: Viewer, group_id: str, today: date) -> dict:
    """Return a group and its current members.

    Staff with a duty at the group's unit see every member. A guardian of a
    member sees the others except persons with protected identity, whom a
    guardian sees only when they are in that guardian's own custody.
    """
    group = connection.execute(select(groups).where(groups.c.id == group_id, access.current(groups, today))).first()
    if group is None:
        raise NotFound("group not found")

    statement = (
        select(persons)
        .join(group_memberships, group_memberships.c.person_id == persons.c.id)
        .where(group_memberships.c.group_id == group_id, current_membership(today), persons.c.removed_at.is_(None))
        .order_by(persons.c.family_name, persons.c.given_name, persons.c.id)
    )
    members = connection.execute(statement).all()

    if not access.may_see_unit(connection, viewer, group.organisation_id, today):
        own_children = set(access.custody_children(connection, viewer.person_id)) if viewer.person_id else set()
        if not own_children & {member.id for member in members}:
            raise NotFound("group not found")
        members = [m for m in members if m.id in own_children or not is_protected(m.security_marking)]

    return {**_group_summary(group), "members": [_person_summary(member) for member in members]}


def staff_assignments(connection, viewer: Viewer, person_id: str, today: date) -> dict:
    """Return the units where the staff member has a current duty and the current groups of those units."""
    if viewer.person_id != person_id and not viewer.is_administrator:
        raise NotFound("staff member not found")
    statement = (
        select(duties, organisations.c.display_name, organisations.c.school_types)
        .join(organisations, organisations.c.id == duties.c.unit_id)
        .where(duties.c.person_id == person_id, access.current(duties, today))
        .order_by(organisations.c.display_name, duties.c.id)
    )
    units = [
        {
            "unit_id": row.unit_id,
            "unit_name": row.display_name,
            "school_types": row.school_types,
            "duty_id": row.id,
            "duty_role": row.duty_role,
        }
        for row in connection.execute(statement)
    ]
    unit_ids = sorted({unit["unit_id"] for unit in units})
    group_rows = connection.execute(
        select(groups)
        .where(groups.c.organisation_id.in_(unit_ids), access.current(groups, today))
        .order_by(groups.c.organisation_id, groups.c.display_name, groups.c.id)
    )
    return {"person_id": person_id, "units": units, "groups": [_group_summary(row) for row in group_rows]}


def placement_history(connection, viewer: Viewer, child_id: str, today: date) -> list[dict]:
    """Return every placement and enrolment of the child, oldest first, ended ones included."""
    if _person(connection, child_id) is None or not access.may_see_child(connection, viewer, child_id, today):
        raise NotFound("child not found")
    statement = (
        select(placements, organisations.c.display_name.label("unit_name"))
        .join(organisations, organisations.c.id == placements.c.school_unit_id)
        .where(placements.c.child_id == child_id, placements.c.removed_at.is_(None))
        .order_by(placements.c.start_date, placements.c.id)
    )
    return [
        {
            "placement_id": row.id,
            "kind": row.kind,
            "unit_id": row.school_unit_id,
            "unit_name": row.unit_name,
            "school_type": row.school_type,
            "school_year": row.school_year,
            "start_date": _iso(row.start_date),
            "end_date": _iso(row.end_date),
            "current": row.start_date <= today and (row.end_date is None or row.end_date >= today),
        }
        for row in connection.execute(statement)
    ]


def is_guardian_for_viewer(connection, viewer: Viewer, guardian_id: str, child_id: str, today: date) -> bool:
    """Return whether ``guardian_id`` has custody of ``child_id``; False when the viewer may not know."""
    allowed = viewer.person_id == guardian_id or access.may_see_child(connection, viewer, child_id, today)
    return allowed and access.is_guardian(connection, guardian_id, child_id)
