"""Lessons: the lessons staff create, move or cancel, and the lesson queries of the other modules.

Lessons imported from SS 12000 calendar events come from ss12000_import.py.
"""

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from torget_attendance import parsing
from torget_attendance.access import require_duty, require_duty_for_lesson
from torget_attendance.errors import InvalidRequest, NotFound
from torget_attendance.models import lesson_groups, lesson_teachers, lessons
from torget_attendance.schooltime import local_date, local_datetime, minutes_between

MAX_LESSON_LENGTH = timedelta(hours=12)
SOURCE_SS12000 = "ss12000"
SOURCE_STAFF = "staff"


def get_lesson(session: Session, lesson_id: str, *, lock: bool = False):
    """Return the lesson row; with ``lock`` it is locked until the transaction ends."""
    query = select(lessons).where(lessons.c.id == lesson_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None:
        raise NotFound("lesson_not_found", "lesson_id", {"lesson_id": lesson_id})
    return row


def lesson_group_ids(session: Session, lesson_id: str) -> list[str]:
    query = select(lesson_groups.c.group_id).where(lesson_groups.c.lesson_id == lesson_id)
    return sorted(session.scalars(query))


def lesson_teacher_ids(session: Session, lesson_id: str) -> list[str]:
    query = select(lesson_teachers.c.teacher_person_id).where(lesson_teachers.c.lesson_id == lesson_id)
    return sorted(session.scalars(query))


def lesson_minutes(lesson) -> int:
    return minutes_between(lesson.starts_at, lesson.ends_at)


def describe_lesson(lesson, group_ids: list[str], teacher_ids: list[str]) -> dict:
    """Return a lesson as plain data, with its times in UTC and in Stockholm."""
    return {
        "id": lesson.id,
        "activity_id": lesson.activity_id,
        "unit_id": lesson.unit_id,
        "name": lesson.name,
        "subject": lesson.subject,
        "room": lesson.room,
        "starts_at": lesson.starts_at.isoformat(),
        "ends_at": lesson.ends_at.isoformat(),
        "local_date": lesson.local_date.isoformat(),
        "local_start_time": local_datetime(lesson.starts_at).time().isoformat("minutes"),
        "local_end_time": local_datetime(lesson.ends_at).time().isoformat("minutes"),
        "minutes": lesson_minutes(lesson),
        "cancelled": lesson.cancelled,
        "source": lesson.source,
        "group_ids": group_ids,
        "teacher_person_ids": teacher_ids,
    }


def lessons_of_groups(session: Session, group_ids, first_date: date, last_date: date, *, include_cancelled=True):
    """Return the lessons of any of ``group_ids`` on the local dates ``first_date`` to ``last_date``."""
    query = (
        select(lessons)
        .where(
            lessons.c.id.in_(select(lesson_groups.c.lesson_id).where(lesson_groups.c.group_id.in_(list(group_ids)))),
            lessons.c.local_date >= first_date,
            lessons.c.local_date <= last_date,
        )
        .order_by(lessons.c.starts_at, lessons.c.id)
    )
    if not include_cancelled:
        query = query.where(lessons.c.cancelled.is_(False))
    return session.execute(query).all()


def groups_by_lesson(session: Session, lesson_ids) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {lesson_id: [] for lesson_id in lesson_ids}
    rows = session.execute(select(lesson_groups).where(lesson_groups.c.lesson_id.in_(list(lesson_ids))))
    for row in rows:
        result[row.lesson_id].append(row.group_id)
    return result


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidRequest("ends_before_start", "ends_at")
    if ends_at - starts_at > MAX_LESSON_LENGTH:
        raise InvalidRequest("lesson_too_long", "ends_at", {"max_hours": 12})


def _check_groups_at_unit(directory, person_id: str, group_ids: list[str], unit_id: str) -> None:
    """Reject a group that is not a current group of ``unit_id``, where the caller has a duty."""
    unit_groups = directory.staff_assignments(person_id)["groups"]
    for index, group_id in enumerate(group_ids):
        group = unit_groups.get(group_id)
        if group is None or group["unit_id"] != unit_id:
            raise InvalidRequest("group_not_at_unit", f"group_ids.{index}", {"group_id": group_id, "unit_id": unit_id})


def replace_members(session: Session, lesson_id: str, group_ids, teacher_ids) -> None:
    session.execute(delete(lesson_groups).where(lesson_groups.c.lesson_id == lesson_id))
    session.execute(delete(lesson_teachers).where(lesson_teachers.c.lesson_id == lesson_id))
    if group_ids:
        session.execute(insert(lesson_groups), [{"lesson_id": lesson_id, "group_id": g} for g in group_ids])
    if teacher_ids:
        session.execute(
            insert(lesson_teachers), [{"lesson_id": lesson_id, "teacher_person_id": t} for t in teacher_ids]
        )


def create_lesson(session: Session, directory, person_id: str, data: dict, now: datetime) -> dict:
    """Create a lesson at a unit where the caller has a duty."""
    unit_id = parsing.text(data, "unit_id", 64)
    require_duty(directory, person_id, unit_id)

    name = parsing.text(data, "name", 200)
    subject = parsing.text(data, "subject", 200, optional=True)
    room = parsing.text(data, "room", 200, optional=True)
    starts_at = parsing.aware_datetime(parsing.required(data, "starts_at"), "starts_at")
    ends_at = parsing.aware_datetime(parsing.required(data, "ends_at"), "ends_at")
    _check_times(starts_at, ends_at)
    group_ids = parsing.text_list(data, "group_ids", min_items=1)
    teacher_ids = parsing.text_list(data, "teacher_person_ids")
    _check_groups_at_unit(directory, person_id, group_ids, unit_id)

    lesson_id = str(uuid.uuid4())
    session.execute(
        insert(lessons).values(
            id=lesson_id,
            activity_id=None,
            unit_id=unit_id,
            name=name,
            subject=subject,
            room=room,
            starts_at=starts_at,
            ends_at=ends_at,
            local_date=local_date(starts_at),
            cancelled=False,
            source=SOURCE_STAFF,
            created_at=now,
            updated_at=now,
            updated_by=person_id,
        )
    )
    replace_members(session, lesson_id, group_ids, teacher_ids)
    return describe_lesson(get_lesson(session, lesson_id), sorted(group_ids), sorted(teacher_ids))


def move_lesson(session: Session, directory, person_id: str, lesson_id: str, data: dict, now: datetime) -> dict:
    """Give a lesson new times and, optionally, a new room."""
    lesson = get_lesson(session, lesson_id, lock=True)
    require_duty_for_lesson(directory, person_id, lesson)

    starts_at = parsing.aware_datetime(parsing.required(data, "starts_at"), "starts_at")
    ends_at = parsing.aware_datetime(parsing.required(data, "ends_at"), "ends_at")
    _check_times(starts_at, ends_at)
    values = {
        "starts_at": starts_at,
        "ends_at": ends_at,
        "local_date": local_date(starts_at),
        "updated_at": now,
        "updated_by": person_id,
    }
    if "room" in data:
        values["room"] = parsing.text(data, "room", 200, optional=True)

    session.execute(update(lessons).where(lessons.c.id == lesson_id).values(**values))
    return describe_lesson(
        get_lesson(session, lesson_id), lesson_group_ids(session, lesson_id), lesson_teacher_ids(session, lesson_id)
    )


def cancel_lesson(session: Session, directory, person_id: str, lesson_id: str, now: datetime) -> dict:
    """Mark a lesson cancelled; its attendance marks are kept."""
    lesson = get_lesson(session, lesson_id, lock=True)
    require_duty_for_lesson(directory, person_id, lesson)

    session.execute(
        update(lessons).where(lessons.c.id == lesson_id).values(cancelled=True, updated_at=now, updated_by=person_id)
    )
    return describe_lesson(
        get_lesson(session, lesson_id), lesson_group_ids(session, lesson_id), lesson_teacher_ids(session, lesson_id)
    )
