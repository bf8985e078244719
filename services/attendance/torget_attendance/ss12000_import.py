"""Lessons from the school directory's SS 12000 import events.

The directory publishes ``ss12000_activities_imported`` and
``ss12000_calendar_events_imported``, each with the whole current state of
the activities or calendar events it carries. An activity becomes a row of
``activities``; each calendar event becomes the lesson of the same id, with
the activity's unit, name, groups and teachers. Times arrive with their
offset and are stored in UTC; the lesson's school day is its local date in
Stockholm.

Every row keeps the ``occurred_at`` of the event it reflects, so an event
older than the row (a retry that arrives after a newer import) changes
nothing. A calendar event or activity deleted at the source removes its
lessons, except that a lesson with attendance marks or a lesson plan is kept
as cancelled so they stay.

NOTE: SS 12000 calendar events may list pupils who do not take part
(``student_exceptions``). They are not kept yet, so every member of a
lesson's groups counts as a pupil of the lesson.
"""

import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.orm import Session

from torget_attendance.models import activities, attendance_marks, lesson_plans, lessons
from torget_attendance.schedule import MAX_LESSON_LENGTH, SOURCE_SS12000, replace_members
from torget_attendance.schooltime import local_date

log = logging.getLogger(__name__)


class ActivityNotImported(Exception):
    """A calendar event refers to an activity whose event has not arrived yet; the handler retries."""


def _ids(values) -> list[str]:
    return list(dict.fromkeys(str(value) for value in values or []))


def _is_newer(stored_occurred_at: datetime | None, occurred_at: datetime) -> bool:
    return stored_occurred_at is None or stored_occurred_at <= occurred_at


def apply_activities(session: Session, payload: dict, occurred_at: datetime, now: datetime) -> None:
    """Apply an ``ss12000_activities_imported`` payload: store each activity, remove the deleted ones."""
    for activity in payload["activities"]:
        store_activity(session, activity, occurred_at, now)
    for activity_id in _ids(payload["removed_activity_ids"]):
        remove_activity(session, activity_id, occurred_at, now)
    log.info(
        "applied %d imported activities and %d removed ones",
        len(payload["activities"]),
        len(payload["removed_activity_ids"]),
    )


def store_activity(session: Session, activity: dict, occurred_at: datetime, now: datetime) -> None:
    """Insert or replace an activity and carry its unit, name, groups and teachers to its imported lessons."""
    activity_id = str(activity["activity_id"])
    stored = session.execute(
        select(activities.c.source_occurred_at).where(activities.c.id == activity_id).with_for_update()
    ).first()
    if stored is not None and not _is_newer(stored.source_occurred_at, occurred_at):
        log.info("activity %s: kept the state of a newer event", activity_id)
        return

    values = {
        "unit_id": str(activity["school_unit_id"]),
        "display_name": activity["display_name"][:200],
        "activity_type": activity.get("activity_type"),
        "group_ids": _ids(activity["group_ids"]),
        "teacher_person_ids": _ids(activity["teacher_person_ids"]),
        "updated_at": now,
        "source_occurred_at": occurred_at,
    }
    if stored is None:
        session.execute(insert(activities).values(id=activity_id, **values))
    else:
        session.execute(update(activities).where(activities.c.id == activity_id).values(**values))

    lesson_ids = session.scalars(
        select(lessons.c.id).where(lessons.c.activity_id == activity_id, lessons.c.source == SOURCE_SS12000)
    ).all()
    for lesson_id in lesson_ids:
        session.execute(
            update(lessons)
            .where(lessons.c.id == lesson_id)
            .values(unit_id=values["unit_id"], name=values["display_name"], updated_at=now)
        )
        replace_members(session, lesson_id, values["group_ids"], values["teacher_person_ids"])


def remove_activity(session: Session, activity_id: str, occurred_at: datetime, now: datetime) -> None:
    stored = session.execute(
        select(activities.c.source_occurred_at).where(activities.c.id == activity_id).with_for_update()
    ).first()
    if stored is None or not _is_newer(stored.source_occurred_at, occurred_at):
        return
    lesson_ids = session.scalars(
        select(lessons.c.id).where(lessons.c.activity_id == activity_id, lessons.c.source == SOURCE_SS12000)
    ).all()
    for lesson_id in lesson_ids:
        remove_lesson(session, lesson_id, occurred_at, now)
    session.execute(delete(activities).where(activities.c.id == activity_id))


def apply_calendar_events(session: Session, payload: dict, occurred_at: datetime, now: datetime) -> None:
    """Apply an ``ss12000_calendar_events_imported`` payload: store each lesson, remove the deleted ones.

    Raises ActivityNotImported when a calendar event's activity is unknown,
    so the whole event is retried once the activity's event has arrived.
    """
    activity_ids = _ids(event["activity_id"] for event in payload["calendar_events"])
    known = {
        row.id: row for row in session.execute(select(activities).where(activities.c.id.in_(activity_ids)))
    }
    missing = [activity_id for activity_id in activity_ids if activity_id not in known]
    if missing:
        raise ActivityNotImported(f"calendar events refer to activities not imported yet: {', '.join(missing[:5])}")

    for calendar_event in payload["calendar_events"]:
        store_lesson(session, calendar_event, known[str(calendar_event["activity_id"])], occurred_at, now)
    for calendar_event_id in _ids(payload["removed_calendar_event_ids"]):
        remove_lesson(session, calendar_event_id, occurred_at, now)
    log.info(
        "applied %d imported calendar events and %d removed ones",
        len(payload["calendar_events"]),
        len(payload["removed_calendar_event_ids"]),
    )


def store_lesson(session: Session, calendar_event: dict, activity, occurred_at: datetime, now: datetime) -> None:
    """Insert or replace the lesson of a calendar event; skip one whose times cannot be a lesson."""
    lesson_id = str(calendar_event["calendar_event_id"])
    starts_at = calendar_event["start_time"].astimezone(timezone.utc)
    ends_at = calendar_event["end_time"].astimezone(timezone.utc)
    if not timedelta(0) < ends_at - starts_at <= MAX_LESSON_LENGTH:
        log.warning(
            "calendar event %s skipped: it runs from %s to %s, and a lesson lasts more than 0 and at most %s",
            lesson_id,
            starts_at.isoformat(),
            ends_at.isoformat(),
            MAX_LESSON_LENGTH,
        )
        return

    stored = session.execute(
        select(lessons.c.source, lessons.c.source_occurred_at).where(lessons.c.id == lesson_id).with_for_update()
    ).first()
    if stored is not None and (stored.source != SOURCE_SS12000 or not _is_newer(stored.source_occurred_at, occurred_at)):
        return

    values = {
        "activity_id": activity.id,
        "unit_id": activity.unit_id,
        "name": activity.display_name,
        "subject": activity.subject,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "local_date": local_date(starts_at),
        "cancelled": calendar_event["cancelled"],
        "updated_at": now,
        "updated_by": None,
        "source_occurred_at": occurred_at,
    }
    if stored is None:
        session.execute(insert(lessons).values(id=lesson_id, source=SOURCE_SS12000, created_at=now, **values))
    else:
        session.execute(update(lessons).where(lessons.c.id == lesson_id).values(**values))
    replace_members(session, lesson_id, activity.group_ids, activity.teacher_person_ids)


def remove_lesson(session: Session, lesson_id: str, occurred_at: datetime, now: datetime) -> None:
    """Delete an imported lesson deleted at the source; cancel it instead when it has marks or a plan."""
    stored = session.execute(
        select(lessons.c.source, lessons.c.source_occurred_at).where(lessons.c.id == lesson_id).with_for_update()
    ).first()
    if stored is None or stored.source != SOURCE_SS12000 or not _is_newer(stored.source_occurred_at, occurred_at):
        return
    has_marks = session.scalar(select(exists().where(attendance_marks.c.lesson_id == lesson_id)))
    has_plan = session.scalar(select(exists().where(lesson_plans.c.lesson_id == lesson_id)))
    if has_marks or has_plan:
        session.execute(
            update(lessons)
            .where(lessons.c.id == lesson_id)
            .values(cancelled=True, updated_at=now, updated_by=None, source_occurred_at=occurred_at)
        )
    else:
        session.execute(delete(lessons).where(lessons.c.id == lesson_id))
