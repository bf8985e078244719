"""Absence statistics: valid and invalid absence minutes against scheduled minutes.

Per pupil and lesson: an absent mark counts the whole lesson, a late mark its
late minutes, each valid or invalid as the mark's valid_absence sets. A lesson without a
mark that a guardian's report overlaps counts the overlap as valid absence.
Cancelled lessons count for nothing. A pupil whose total absence reaches the
unit's threshold percent is flagged for the group's mentors.

NOTE: a pupil counts in the groups the directory lists now, so a period
before a change of group counts the new group's lessons.
"""

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from torget_attendance import parsing
from torget_attendance.access import child_unit_of_staff, child_visible_to, group_pupils, staff_group
from torget_attendance.models import attendance_marks, lesson_groups, lesson_teachers, lessons
from torget_attendance.registration import ABSENT, LATE
from torget_attendance.reports import reports_between
from torget_attendance.rules import rules_of
from torget_attendance.schedule import groups_by_lesson, lesson_minutes, lessons_of_groups
from torget_attendance.schooltime import day_start, minutes_between


def _empty(pupil_id: str) -> dict:
    return {
        "child_person_id": pupil_id,
        "scheduled_minutes": 0,
        "valid_absence_minutes": 0,
        "invalid_absence_minutes": 0,
    }


def _absence_minutes(lesson, mark, reports) -> tuple[int, int]:
    """Return (valid, invalid) absence minutes of one pupil in one lesson."""
    if mark is not None:
        if mark.status == ABSENT:
            minutes = lesson_minutes(lesson)
        elif mark.status == LATE:
            minutes = mark.late_minutes
        else:
            return 0, 0
        return (minutes, 0) if mark.valid_absence else (0, minutes)

    overlap = 0
    for report in reports:
        start = max(report.starts_at, lesson.starts_at)
        end = min(report.ends_at, lesson.ends_at)
        overlap += minutes_between(start, end)
    return min(overlap, lesson_minutes(lesson)), 0


def compute_statistics(session: Session, pupils_by_group: dict[str, list[str]], first_date: date, last_date: date):
    """Return per-pupil statistics for the pupils of the given groups in the period."""
    pupil_ids = sorted({pupil for pupils in pupils_by_group.values() for pupil in pupils})
    totals = {pupil: _empty(pupil) for pupil in pupil_ids}
    lessons = lessons_of_groups(session, pupils_by_group, first_date, last_date, include_cancelled=False)
    if not lessons or not pupil_ids:
        return totals

    lesson_ids = [lesson.id for lesson in lessons]
    marks = {
        (row.lesson_id, row.child_person_id): row
        for row in session.execute(
            select(attendance_marks).where(
                attendance_marks.c.lesson_id.in_(lesson_ids), attendance_marks.c.child_person_id.in_(pupil_ids)
            )
        )
    }
    period_start, period_end = day_start(first_date), day_start(last_date + timedelta(days=1))
    reports_by_pupil: dict[str, list] = {}
    for report in reports_between(session, pupil_ids, period_start, period_end):
        reports_by_pupil.setdefault(report.child_person_id, []).append(report)

    groups_of_lesson = groups_by_lesson(session, lesson_ids)
    for lesson in lessons:
        attending = {pupil for group in groups_of_lesson[lesson.id] for pupil in pupils_by_group.get(group, [])}
        for pupil in attending:
            total = totals[pupil]
            total["scheduled_minutes"] += lesson_minutes(lesson)
            valid, invalid = _absence_minutes(lesson, marks.get((lesson.id, pupil)), reports_by_pupil.get(pupil, []))
            total["valid_absence_minutes"] += valid
            total["invalid_absence_minutes"] += invalid
    return totals


def _with_flags(totals: dict, threshold_percent: int) -> list[dict]:
    result = []
    for total in totals.values():
        absence = total["valid_absence_minutes"] + total["invalid_absence_minutes"]
        scheduled = total["scheduled_minutes"]
        percent = round(100 * absence / scheduled, 1) if scheduled else 0.0
        # Compare the unrounded share, because 0.97 percent rounds to 1.0 and would reach a threshold of 1.
        flagged = scheduled > 0 and 100 * absence >= threshold_percent * scheduled
        result.append({**total, "absence_percent": percent, "flagged": flagged})
    return result


def group_statistics(session: Session, directory, person_id: str, group_id: str, first, last) -> dict:
    """Return the statistics of every pupil of a group, for staff with a duty at its unit."""
    group = staff_group(directory, person_id, group_id)
    first_date, last_date = parsing.period(first, last)

    rules = rules_of(session, group["unit_id"])
    pupils_by_group = {group_id: sorted(group_pupils(directory, [group_id]))}
    totals = compute_statistics(session, pupils_by_group, first_date, last_date)
    pupils = _with_flags(totals, rules.absence_threshold_percent)
    return {
        "group_id": group_id,
        "unit_id": group["unit_id"],
        "first_date": first_date.isoformat(),
        "last_date": last_date.isoformat(),
        "absence_threshold_percent": rules.absence_threshold_percent,
        # NOTE: the directory does not tell a group's mentors (SS 12000
        # Duty.assignmentRole), so this list stays empty until it does.
        "mentor_person_ids": [],
        "pupils": pupils,
        "flagged_pupil_person_ids": [pupil["child_person_id"] for pupil in pupils if pupil["flagged"]],
    }


def pupil_statistics(session: Session, directory, person_id: str, child_person_id: str, first, last) -> dict:
    """Return one pupil's statistics, for the pupil, guardians with custody and staff at the pupil's unit."""
    context = directory.child_context(child_person_id)
    unit_id = child_unit_of_staff(directory, person_id, context)
    if unit_id is None:
        context = child_visible_to(directory, person_id, child_person_id)
        unit_id = context["unit_ids"][0] if context["unit_ids"] else None
    first_date, last_date = parsing.period(first, last)

    rules = rules_of(session, unit_id)
    pupils_by_group = {group_id: [child_person_id] for group_id in context["group_ids"]}
    totals = compute_statistics(session, pupils_by_group, first_date, last_date)
    pupil = _with_flags(totals or {child_person_id: _empty(child_person_id)}, rules.absence_threshold_percent)[0]
    return {
        "first_date": first_date.isoformat(),
        "last_date": last_date.isoformat(),
        "absence_threshold_percent": rules.absence_threshold_percent,
        **pupil,
    }


def taught_group_ids(session: Session, person_id: str, first_date: date, last_date: date) -> list[str]:
    """Return the groups of the lessons the person teaches on the local dates, cancelled lessons left out."""
    query = (
        select(lesson_groups.c.group_id)
        .join(lessons, lessons.c.id == lesson_groups.c.lesson_id)
        .join(lesson_teachers, lesson_teachers.c.lesson_id == lessons.c.id)
        .where(
            lesson_teachers.c.teacher_person_id == person_id,
            lessons.c.local_date >= first_date,
            lessons.c.local_date <= last_date,
            lessons.c.cancelled.is_(False),
        )
        .distinct()
        .order_by(lesson_groups.c.group_id)
    )
    return list(session.scalars(query))


def mentor_flags(session: Session, directory, person_id: str, first, last) -> list[dict]:
    """Return the flagged pupils of the groups the caller teaches in the period, at units of the caller's duties.

    NOTE: the directory does not tell which groups a teacher mentors (SS
    12000 Duty.assignmentRole), so a teacher's own lessons in the period
    stand in for mentorship until it does.
    """
    first_date, last_date = parsing.period(first, last)
    unit_groups = directory.staff_assignments(person_id)["groups"]
    flagged = []
    for group_id in taught_group_ids(session, person_id, first_date, last_date):
        if group_id not in unit_groups:
            continue
        statistics = group_statistics(session, directory, person_id, group_id, first, last)
        flagged.extend({"group_id": group_id, **pupil} for pupil in statistics["pupils"] if pupil["flagged"])
    return flagged
