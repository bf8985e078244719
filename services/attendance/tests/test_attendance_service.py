"""The attendance service on the real broker and PostgreSQL, with the directory TEST DOUBLE.

The double covers what the real directory cannot easily do in a test: stop
in the middle of one (the stored replies), and answer the hand-made ids that
these cases need. test_real_directory.py runs attendance against the real
directory service.
"""

import threading
import time
from datetime import datetime, time as wall_time, timedelta

import pytest

from conftest import add_lesson, outbox_events
from event_recorder import recorded
from torget_attendance.schooltime import SCHOOL_TIMEZONE, to_utc
from torget_shared.testing.probe import wait_for


def local_today():
    return datetime.now(SCHOOL_TIMEZONE).date()


def events_of(event_type):
    return [envelope for envelope in recorded if envelope["event_type"] == event_type]


def rejection_text(raised) -> str:
    """Return the text of a rejection: nameko's RemoteError, or the class the gateway registers for it.

    Importing the gateway makes nameko rebuild attendance rejections as the
    gateway's class, so these tests read the code and field from the text.
    """
    return str(raised.value)


def settle(seconds=0.5):
    """Give the outbox relay time to publish anything more it would publish."""
    time.sleep(seconds)


@pytest.fixture
def engine(attendance, engine_of):
    return engine_of(attendance.database_url)


def test_one_absence_event_per_pupil_leaves_outbox(attendance, engine):
    lesson_id = add_lesson(engine, to_utc(local_today(), wall_time(8, 0)), 60)
    teacher = attendance.as_person("teacher-1")
    marks = [
        {"child_person_id": "pupil-1", "status": "absent"},
        {"child_person_id": "pupil-2", "status": "late", "late_minutes": 12},
        {"child_person_id": "pupil-3", "status": "present"},
        {"child_person_id": "pupil-4", "status": "present"},
    ]

    teacher.register_lesson(lesson_id, marks)
    teacher.register_lesson(lesson_id, marks)

    wait_for(lambda: len(events_of("absence_registered")) >= 2)
    settle()
    received = sorted(
        (event["payload"]["child_person_id"], event["payload"]["kind"]) for event in events_of("absence_registered")
    )
    assert received == [("pupil-1", "absent"), ("pupil-2", "late")]
    assert attendance.health()["outbox"] == {"pending": 0, "sent": 2, "unrouted": 0, "failed": 0}


def test_guardian_report_silences_teacher_absence(attendance, engine):
    tomorrow = local_today() + timedelta(days=1)
    lesson_tomorrow = add_lesson(engine, to_utc(tomorrow, wall_time(9, 0)), 50)
    lesson_after = add_lesson(engine, to_utc(tomorrow + timedelta(days=1), wall_time(9, 0)), 50)
    guardian = attendance.as_person("guardian-1")

    report = guardian.report_absence({
        "child_person_id": "pupil-1",
        "first_date": tomorrow.isoformat(),
        "last_date": (tomorrow + timedelta(days=1)).isoformat(),
        "reason": "illness",
    })

    schedule = guardian.child_schedule("pupil-1", tomorrow.isoformat(), (tomorrow + timedelta(days=1)).isoformat())
    assert [lesson["reported_absence_id"] for lesson in schedule] == [report["id"], report["id"]]
    assert [lesson["id"] for lesson in schedule] == [lesson_tomorrow, lesson_after]

    outcome = attendance.as_person("teacher-1").register_lesson(
        lesson_tomorrow, [{"child_person_id": "pupil-1", "status": "absent"}]
    )
    assert outcome["events"] == 0

    wait_for(lambda: events_of("absence_reported"))
    settle()
    assert events_of("absence_registered") == []
    assert [str(event["payload"]["report_id"]) for event in events_of("absence_reported")] == [report["id"]]


def test_concurrent_same_registration_publishes_once(attendance, engine):
    lesson_id = add_lesson(engine, to_utc(local_today(), wall_time(10, 0)), 60)
    marks = [{"child_person_id": "pupil-3", "status": "absent"}]
    teachers = [attendance.as_person("teacher-1") for _ in range(4)]
    outcomes = []

    threads = [threading.Thread(target=lambda t=t: outcomes.append(t.register_lesson(lesson_id, marks))) for t in teachers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcome["events"] for outcome in outcomes) == [0, 0, 0, 1]
    assert len(outbox_events(engine, "absence_registered")) == 1


def test_rejection_reaches_caller_with_field(attendance, engine):
    lesson_id = add_lesson(engine, to_utc(local_today(), wall_time(10, 0)), 60)

    with pytest.raises(Exception) as raised:
        attendance.as_person("teacher-1").register_lesson(
            lesson_id, [{"child_person_id": "pupil-1", "status": "late", "late_minutes": 90}]
        )

    assert "out_of_range" in rejection_text(raised)
    assert "marks.0.late_minutes" in rejection_text(raised)
    assert outbox_events(engine) == []


def test_anonymous_caller_is_rejected(attendance):
    with pytest.raises(Exception) as raised:
        attendance.unit_rules("unit-a")

    assert "not_authenticated" in rejection_text(raised)


def test_stored_answer_serves_while_directory_is_down(attendance, engine):
    lesson_id = add_lesson(engine, to_utc(local_today(), wall_time(11, 0)), 60)
    teacher = attendance.as_person("teacher-1")
    teacher.lesson_attendance(lesson_id)

    attendance.directory_container.stop()
    view = teacher.lesson_attendance(lesson_id)

    assert [pupil["child_person_id"] for pupil in view["pupils"]] == ["pupil-1", "pupil-2", "pupil-3", "pupil-4"]
    with pytest.raises(Exception) as raised:
        attendance.as_person("guardian-1").child_schedule("pupil-2", "2026-01-01", "2026-01-02")
    assert "directory_unavailable" in rejection_text(raised)


def test_staff_create_move_and_cancel_lesson(attendance):
    teacher = attendance.as_person("teacher-1")
    created = teacher.create_lesson({
        "unit_id": "unit-a", "name": "Svenska", "room": "B12", "group_ids": ["group-7a"],
        "teacher_person_ids": ["teacher-1"],
        "starts_at": "2026-10-25T08:00:00+01:00", "ends_at": "2026-10-25T09:00:00+01:00",
    })
    assert created["local_date"] == "2026-10-25"
    assert created["local_start_time"] == "08:00"

    moved = teacher.move_lesson(created["id"], {"starts_at": "2026-10-26T10:00:00+01:00",
                                                "ends_at": "2026-10-26T10:45:00+01:00", "room": "A1"})
    assert (moved["local_date"], moved["minutes"], moved["room"]) == ("2026-10-26", 45, "A1")

    cancelled = teacher.cancel_lesson(created["id"])
    assert cancelled["cancelled"] is True

    with pytest.raises(Exception) as raised:
        attendance.as_person("teacher-b").cancel_lesson(created["id"])
    assert "lesson_not_found" in rejection_text(raised)

    with pytest.raises(Exception) as raised:
        teacher.create_lesson({
            "unit_id": "unit-a", "name": "Svenska", "group_ids": ["group-7a"],
            "starts_at": "2026-10-25T09:00:00+01:00", "ends_at": "2026-10-25T08:00:00+01:00",
        })
    assert "ends_before_start" in rejection_text(raised)
    assert "ends_at" in rejection_text(raised)
