"""Read views of lessons: a lesson with its pupils' marks, a group's schedule and a child's schedule."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from torget_attendance import parsing
from torget_attendance.access import child_visible_to, group_pupils, groups_with_feature, staff_group
from torget_attendance.models import attendance_marks
from torget_attendance.registration import describe_mark, require_registrar
from torget_attendance.reports import covering_reports
from torget_attendance.schedule import (
    describe_lesson,
    get_lesson,
    groups_by_lesson,
    lesson_group_ids,
    lesson_teacher_ids,
    lessons_of_groups,
)


def lesson_attendance(session: Session, directory, person_id: str, lesson_id: str) -> dict:
    """Return a lesson with every pupil of its groups: the mark, and any covering guardian report."""
    lesson = get_lesson(session, lesson_id)
    require_registrar(session, directory, person_id, lesson)
    group_ids = lesson_group_ids(session, lesson_id)
    pupils = sorted(group_pupils(directory, group_ids))

    marks = {
        row.child_person_id: row
        for row in session.execute(select(attendance_marks).where(attendance_marks.c.lesson_id == lesson_id))
    }
    covered = covering_reports(session, set(pupils) | set(marks), lesson.starts_at, lesson.ends_at)
    rows = []
    for pupil in sorted(set(pupils) | set(marks)):
        mark = marks.get(pupil)
        rows.append(
            {
                "child_person_id": pupil,
                "in_group": pupil in pupils,
                "reported_absence_id": covered.get(pupil),
                "mark": describe_mark(mark, covered.get(pupil)) if mark is not None else None,
            }
        )
    return {**describe_lesson(lesson, group_ids, lesson_teacher_ids(session, lesson_id)), "pupils": rows}


def group_schedule(session: Session, directory, person_id: str, group_id: str, first, last) -> list[dict]:
    """Return a group's lessons in a period, for staff with a duty at the group's unit."""
    staff_group(directory, person_id, group_id)
    first_date, last_date = parsing.period(first, last, max_days=62)

    rows = lessons_of_groups(session, [group_id], first_date, last_date)
    groups = groups_by_lesson(session, [row.id for row in rows])
    return [describe_lesson(row, sorted(groups[row.id]), []) for row in rows]


def child_schedule(session: Session, directory, person_id: str, child_person_id: str, first, last) -> list[dict]:
    """Return a child's lessons with the child's mark and reported absence, for the child and guardians."""
    context = child_visible_to(directory, person_id, child_person_id)
    group_ids = groups_with_feature(directory, context, "schedule", "schedule_disabled")
    first_date, last_date = parsing.period(first, last, max_days=62)

    rows = lessons_of_groups(session, group_ids, first_date, last_date)
    lesson_ids = [row.id for row in rows]
    groups = groups_by_lesson(session, lesson_ids)
    marks = {
        row.lesson_id: row
        for row in session.execute(
            select(attendance_marks).where(
                attendance_marks.c.lesson_id.in_(lesson_ids), attendance_marks.c.child_person_id == child_person_id
            )
        )
    }
    schedule = []
    for row in rows:
        report_id = covering_reports(session, [child_person_id], row.starts_at, row.ends_at).get(child_person_id)
        mark = marks.get(row.id)
        schedule.append(
            {
                **describe_lesson(row, sorted(groups[row.id]), []),
                "reported_absence_id": report_id,
                "mark": describe_mark(mark, report_id) if mark is not None else None,
            }
        )
    return schedule
