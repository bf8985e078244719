"""Who may do what: checks of the caller against the directory's answers and the lesson's teachers."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from torget_attendance.errors import FeatureDisabled, Forbidden, NotAuthenticated, NotFound
from torget_attendance.models import lesson_teachers
from torget_shared.caller import ACCOUNT, Caller

# SS 12000 duty roles (DutyRole) that may set a unit's attendance rules:
# the head of the unit (Förskolechef is the 2.1 standard's older name for a
# preschool's Rektor), the deputy heads and the school administrators.
UNIT_LEADER_ROLES = ("Rektor", "Förskolechef", "Övrig arbetsledning", "Skoladministratör")


def person_of(caller: Caller) -> str:
    """Return the caller's person id; raise NotAuthenticated for anyone not logged in as a person."""
    if caller.kind != ACCOUNT or not caller.person_id:
        raise NotAuthenticated("not_authenticated")
    return caller.person_id


def duty_unit_ids(directory, person_id: str) -> set[str]:
    return {duty["unit_id"] for duty in directory.staff_assignments(person_id)["duties"]}


def has_duty_at(directory, person_id: str, unit_id: str | None) -> bool:
    return unit_id is not None and unit_id in duty_unit_ids(directory, person_id)


def require_duty(directory, person_id: str, unit_id: str) -> None:
    if not has_duty_at(directory, person_id, unit_id):
        raise Forbidden("no_duty_at_unit", "unit_id", {"unit_id": unit_id})


def require_duty_for_lesson(directory, person_id: str, lesson) -> None:
    """Allow staff with a duty at the lesson's unit; anyone else is told the lesson does not exist.

    A refusal that named the lesson's unit would tell other units' staff and
    other families which lesson ids exist.
    """
    if not has_duty_at(directory, person_id, lesson.unit_id):
        raise NotFound("lesson_not_found", "lesson_id", {"lesson_id": lesson.id})


def require_unit_leader(directory, person_id: str, unit_id: str) -> None:
    duties = directory.staff_assignments(person_id)["duties"]
    if not any(duty["unit_id"] == unit_id and duty["duty_role"] in UNIT_LEADER_ROLES for duty in duties):
        raise Forbidden("not_unit_leader", "unit_id", {"unit_id": unit_id})


def staff_group(directory, person_id: str, group_id: str) -> dict:
    """Return ``{"group_id", "unit_id"}`` of a current group at a unit where the caller has a duty.

    A group elsewhere raises the same NotFound as a missing one, as the
    directory does.
    """
    group = directory.staff_assignments(person_id)["groups"].get(group_id)
    if group is None:
        raise NotFound("group_not_found", "group_id", {"group_id": group_id})
    return group


def group_pupils(directory, group_ids) -> set[str]:
    """Return the current members of the groups; call it only once the caller's access is checked."""
    pupils = set()
    for group_id in group_ids:
        members = directory.group_members(group_id)
        if members is not None:
            pupils.update(members["member_person_ids"])
    return pupils


def teaches(session: Session, person_id: str, lesson_id: str) -> bool:
    row = session.execute(
        select(lesson_teachers.c.lesson_id).where(
            lesson_teachers.c.lesson_id == lesson_id,
            lesson_teachers.c.teacher_person_id == person_id,
        )
    ).first()
    return row is not None


def has_custody(context: dict | None, guardian_person_id: str) -> bool:
    return context is not None and guardian_person_id in context["guardian_person_ids"]


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


def child_unit_of_staff(directory, person_id: str, context: dict | None) -> str | None:
    """Return the first of the child's units where the caller has a duty, or None."""
    if context is None:
        return None
    duty_units = duty_unit_ids(directory, person_id)
    return next((unit_id for unit_id in context["unit_ids"] if unit_id in duty_units), None)


def groups_with_feature(directory, context: dict, feature: str, disabled_code: str) -> list[str]:
    """Return the child's groups at the units that have ``feature`` on.

    Raises FeatureDisabled with ``disabled_code`` when none of the child's
    units has it on.
    """
    enabled_units = [unit_id for unit_id in context["unit_ids"] if directory.unit_features(unit_id).get(feature)]
    if not enabled_units:
        first_unit_id = context["unit_ids"][0] if context["unit_ids"] else ""
        raise FeatureDisabled(disabled_code, "child_person_id", {"unit_id": first_unit_id})
    return [group["group_id"] for group in context["groups"] if group["unit_id"] in enabled_units]
