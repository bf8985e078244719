"""Attendance registration of a lesson: one request marks every pupil; corrections keep each version.

A mark's id is the registration id of its absence events. The mark remembers
the state it last published (``notice_kind``, ``notice_late_minutes``), and a
registration publishes only when that state changes:

- absent or late, not covered by a guardian's report: ``absence_registered``;
- from a published absence to present, or to an absence a report covers:
  ``absence_registration_withdrawn``.

The lesson row is locked for the whole registration, so two registrations of
one lesson run one after the other and the second reads the first's marks.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

import torget_shared.contracts.attendance  # noqa: F401  (registers the schemas of the events published here)

from torget_attendance.access import group_pupils, has_duty_at, teaches
from torget_attendance.errors import Conflict, InvalidRequest, NotFound
from torget_attendance.models import attendance_mark_versions, attendance_marks
from torget_attendance.reports import covering_reports
from torget_attendance.schedule import get_lesson, lesson_group_ids, lesson_minutes
from torget_attendance.schooltime import local_datetime

PRESENT = "present"
ABSENT = "absent"
LATE = "late"
STATUSES = (PRESENT, ABSENT, LATE)
MAX_MARKS = 200
# The absence_registered contract caps late minutes at 600.
MAX_LATE_MINUTES = 600

ABSENCE_REGISTERED = "absence_registered"
ABSENCE_REGISTRATION_WITHDRAWN = "absence_registration_withdrawn"


@dataclass(frozen=True)
class Mark:
    child_person_id: str
    status: str
    late_minutes: int | None
    valid_absence: bool | None


def parse_marks(raw_marks, minutes: int) -> list[Mark]:
    """Check every mark of a registration; raise InvalidRequest naming the first invalid field."""
    if not isinstance(raw_marks, list) or not raw_marks:
        raise InvalidRequest("missing_field", "marks")
    if len(raw_marks) > MAX_MARKS:
        raise InvalidRequest("too_many_items", "marks", {"max": MAX_MARKS})

    marks = []
    seen = set()
    for index, raw in enumerate(raw_marks):
        mark = _parse_mark(raw, f"marks.{index}.", minutes)
        if mark.child_person_id in seen:
            raise InvalidRequest("duplicate_pupil", f"marks.{index}.child_person_id")
        seen.add(mark.child_person_id)
        marks.append(mark)
    return marks


def _parse_mark(raw, prefix: str, minutes: int) -> Mark:
    if not isinstance(raw, dict):
        raise InvalidRequest("not_an_object", prefix.rstrip("."))
    child_person_id = raw.get("child_person_id")
    if not isinstance(child_person_id, str) or not child_person_id:
        raise InvalidRequest("missing_field", prefix + "child_person_id")
    status = raw.get("status")
    if status not in STATUSES:
        raise InvalidRequest("invalid_choice", prefix + "status", {"choices": ", ".join(STATUSES)})

    late_minutes = raw.get("late_minutes")
    if status == LATE:
        maximum = min(minutes, MAX_LATE_MINUTES)
        if late_minutes is None:
            raise InvalidRequest("missing_field", prefix + "late_minutes")
        if not isinstance(late_minutes, int) or isinstance(late_minutes, bool):
            raise InvalidRequest("not_whole_number", prefix + "late_minutes")
        if not 1 <= late_minutes <= maximum:
            raise InvalidRequest("out_of_range", prefix + "late_minutes", {"min": 1, "max": maximum})
    elif late_minutes is not None:
        raise InvalidRequest("late_minutes_without_late", prefix + "late_minutes")

    valid_absence = raw.get("valid_absence")
    if valid_absence is not None and not isinstance(valid_absence, bool):
        raise InvalidRequest("not_boolean", prefix + "valid_absence")
    if status == PRESENT and valid_absence:
        raise InvalidRequest("valid_absence_when_present", prefix + "valid_absence")
    return Mark(child_person_id, status, late_minutes, valid_absence)


def require_registrar(session: Session, directory, person_id: str, lesson) -> None:
    """Allow a teacher of the lesson, or staff with a duty at its unit.

    Anyone else gets the answer for a lesson that does not exist, so a
    refusal never tells which lesson ids exist.
    """
    if teaches(session, person_id, lesson.id) or has_duty_at(directory, person_id, lesson.unit_id):
        return
    raise NotFound("lesson_not_found", "lesson_id", {"lesson_id": lesson.id})


def register_lesson(session: Session, directory, publish, person_id: str, lesson_id: str, raw_marks, now: datetime):
    """Store the marks of one lesson and publish what changed; return the marks and what happened.

    ``publish(event_type, payload)`` writes an event to the outbox in ``session``'s transaction.
    """
    lesson = get_lesson(session, lesson_id, lock=True)
    require_registrar(session, directory, person_id, lesson)
    if lesson.cancelled:
        raise Conflict("lesson_cancelled", "lesson_id", {"lesson_id": lesson_id})

    marks = parse_marks(raw_marks, lesson_minutes(lesson))
    group_ids = lesson_group_ids(session, lesson_id)
    pupils = group_pupils(directory, group_ids)
    for index, mark in enumerate(marks):
        if mark.child_person_id not in pupils:
            raise InvalidRequest(
                "pupil_not_in_group", f"marks.{index}.child_person_id", {"child_person_id": mark.child_person_id}
            )

    children = [mark.child_person_id for mark in marks]
    covered = covering_reports(session, children, lesson.starts_at, lesson.ends_at)
    stored = {
        row.child_person_id: row
        for row in session.execute(
            select(attendance_marks).where(
                attendance_marks.c.lesson_id == lesson_id, attendance_marks.c.child_person_id.in_(children)
            )
        )
    }

    outcome = {"lesson_id": lesson_id, "changed": 0, "unchanged": 0, "events": 0, "marks": []}
    for mark in marks:
        report_id = covered.get(mark.child_person_id)
        row, changed = _store_mark(session, lesson_id, mark, report_id, stored.get(mark.child_person_id), person_id, now)
        outcome["changed" if changed else "unchanged"] += 1
        outcome["events"] += _publish_change(session, publish, lesson, row, report_id)
        outcome["marks"].append(describe_mark(row, report_id))

    outcome["unregistered_pupil_person_ids"] = sorted(pupils - set(children) - _registered(session, lesson_id))
    return outcome


def _registered(session: Session, lesson_id: str) -> set[str]:
    query = select(attendance_marks.c.child_person_id).where(attendance_marks.c.lesson_id == lesson_id)
    return set(session.scalars(query))


def _store_mark(session, lesson_id, mark: Mark, report_id, existing, person_id, now):
    """Insert or correct one mark, with a version row; return the current row and whether it changed."""
    valid_absence = mark.valid_absence
    if mark.status == PRESENT:
        valid_absence = False
    elif valid_absence is None:
        # A guardian's report makes the absence valid unless the request sets valid_absence.
        valid_absence = report_id is not None

    if existing is not None and (existing.status, existing.late_minutes, existing.valid_absence) == (
        mark.status,
        mark.late_minutes,
        valid_absence,
    ):
        return existing, False

    values = {
        "status": mark.status,
        "late_minutes": mark.late_minutes,
        "valid_absence": valid_absence,
        "registered_by": person_id,
        "registered_at": now,
    }
    if existing is None:
        mark_id = str(uuid.uuid4())
        version = 1
        session.execute(
            insert(attendance_marks).values(
                id=mark_id, lesson_id=lesson_id, child_person_id=mark.child_person_id, version=version, **values
            )
        )
    else:
        mark_id = existing.id
        version = existing.version + 1
        session.execute(
            update(attendance_marks).where(attendance_marks.c.id == mark_id).values(version=version, **values)
        )

    session.execute(
        insert(attendance_mark_versions).values(
            mark_id=mark_id, version=version, covered_by_report_id=report_id, **values
        )
    )
    return session.execute(select(attendance_marks).where(attendance_marks.c.id == mark_id)).one(), True


def _publish_change(session, publish, lesson, row, report_id) -> int:
    """Publish the mark's notice state when it differs from the one last published; return events written."""
    if row.status in (ABSENT, LATE) and report_id is None:
        notice = (row.status, row.late_minutes)
    else:
        notice = (None, None)
    published = (row.notice_kind, row.notice_late_minutes)
    if notice == published:
        return 0

    if notice[0] is None:
        publish(ABSENCE_REGISTRATION_WITHDRAWN, _withdrawn_payload(lesson, row))
    else:
        publish(ABSENCE_REGISTERED, _registered_payload(lesson, row))
    session.execute(
        update(attendance_marks)
        .where(attendance_marks.c.id == row.id)
        .values(notice_kind=notice[0], notice_late_minutes=notice[1])
    )
    return 1


def _registered_payload(lesson, row) -> dict:
    return {
        "registration_id": row.id,
        "child_person_id": row.child_person_id,
        "unit_id": lesson.unit_id,
        "lesson_id": lesson.id,
        "lesson_name": lesson.name,
        "local_date": lesson.local_date.isoformat(),
        "local_start_time": local_datetime(lesson.starts_at).time().isoformat("minutes"),
        "local_end_time": local_datetime(lesson.ends_at).time().isoformat("minutes"),
        "kind": row.status,
        "late_minutes": row.late_minutes,
    }


def _withdrawn_payload(lesson, row) -> dict:
    return {
        "registration_id": row.id,
        "child_person_id": row.child_person_id,
        "unit_id": lesson.unit_id,
        "lesson_id": lesson.id,
        "local_date": lesson.local_date.isoformat(),
    }


def describe_mark(row, report_id: str | None = None) -> dict:
    return {
        "registration_id": row.id,
        "child_person_id": row.child_person_id,
        "status": row.status,
        "late_minutes": row.late_minutes,
        "valid_absence": row.valid_absence,
        "reported_absence_id": report_id,
        "version": row.version,
        "registered_by": row.registered_by,
        "registered_at": row.registered_at.isoformat(),
    }


def mark_history(session: Session, directory, person_id: str, lesson_id: str) -> dict:
    """Return every version of every mark of a lesson, oldest first, for its teachers and unit staff."""
    lesson = get_lesson(session, lesson_id)
    require_registrar(session, directory, person_id, lesson)

    rows = session.execute(
        select(attendance_marks.c.child_person_id, attendance_mark_versions)
        .join(attendance_marks, attendance_marks.c.id == attendance_mark_versions.c.mark_id)
        .where(attendance_marks.c.lesson_id == lesson_id)
        .order_by(attendance_marks.c.child_person_id, attendance_mark_versions.c.version)
    )
    history: dict[str, list[dict]] = {}
    for row in rows:
        history.setdefault(row.child_person_id, []).append(
            {
                "registration_id": row.mark_id,
                "version": row.version,
                "status": row.status,
                "late_minutes": row.late_minutes,
                "valid_absence": row.valid_absence,
                "reported_absence_id": row.covered_by_report_id,
                "registered_by": row.registered_by,
                "registered_at": row.registered_at.isoformat(),
            }
        )
    return {"lesson_id": lesson_id, "pupils": history}
