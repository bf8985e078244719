"""Who may do what: checks of the caller against the directory's answers and the lesson's teachers."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from torget_attendance.errors import Forbidden, NotAuthenticated, NotFound
from torget_attendance.models import lesson_teachers
from torget_shared.caller import ACCOUNT, Caller

# Duty roles (SS 12000 DutyRole) that may set a unit's attendance rules.
UNIT_LEADER_ROLES = ("Rektor", "Biträdande rektor", "Administratör")


def person_of(caller: Caller) -> str:
    """Return the caller's person id; raise NotAuthenticated for anyone not logged in as a person."""
    if caller.kind != ACCOUNT or not caller.person_id:
        raise NotAuthenticated("not_authenticated")
    return caller.person_id


def has_duty_at(directory, person_id: str, unit_id: str) -> bool:
    return any(duty.get("unit_id") == unit_id for duty in directory.staff_duties(person_id))


def require_duty(directory, person_id: str, unit_id: str) -> None:
    if not has_duty_at(directory, person_id, unit_id):
        raise Forbidden("no_duty_at_unit", "unit_id", {"unit_id": unit_id})


def require_unit_leader(directory, person_id: str, unit_id: str) -> None:
    duties = directory.staff_duties(person_id)
    if not any(duty.get("unit_id") == unit_id and duty.get("duty_role") in UNIT_LEADER_ROLES for duty in duties):
        raise Forbidden("not_unit_leader", "unit_id", {"unit_id": unit_id})


def teaches(session: Session, person_id: str, lesson_id: str) -> bool:
    row = session.execute(
        select(lesson_teachers.c.lesson_id).where(
            lesson_teachers.c.lesson_id == lesson_id,
            lesson_teachers.c.teacher_person_id == person_id,
        )
    ).first()
    return row is not None


def has_custody(context: dict | None, guardian_person_id: str) -> bool:
    if context is None:
        return False
    return any(
        guardian.get("person_id") == guardian_person_id and guardian.get("custody")
        for guardian in context.get("guardians", [])
    )


def child_in_custody(directory, guardian_person_id: str, child_person_id: str) -> dict:
    """Return the child's context when the caller has custody of the child.

    An unknown child and a child in someone else's custody raise the same
    NotFound, so the answer does not tell whether the child exists.
    """
    context = directory.child_context(child_person_id)
    if not has_custody(context, guardian_person_id):
        raise NotFound("child_not_found", "child_person_id")
    return context


def child_visible_to(directory, person_id: str, child_person_id: str) -> dict:
    """Return the child's context when the caller is the child or a guardian with custody."""
    context = directory.child_context(child_person_id)
    if context is not None and (person_id == child_person_id or has_custody(context, person_id)):
        return context
    raise NotFound("child_not_found", "child_person_id")
