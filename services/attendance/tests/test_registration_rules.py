"""Attendance registration rules, run against PostgreSQL without a broker."""

import pytest
import sqlalchemy as sa

from conftest import add_lesson, at, outbox_events, publisher
from torget_attendance.errors import Conflict, InvalidRequest, NotFound
from torget_attendance.models import attendance_mark_versions, attendance_marks
from torget_attendance.registration import register_lesson
from torget_attendance.reports import report_absence

NOW = at("2026-02-10T12:00:00+01:00")
LESSON_START = at("2026-02-10T09:00:00+01:00")


def register(db, directory, lesson_id, marks, person_id="teacher-1"):
    with db.begin():
        return register_lesson(db, directory, publisher(db), person_id, lesson_id, marks, NOW)


def payloads(db, event_type):
    return [envelope["payload"] for envelope in outbox_events(db, event_type)]


def test_absent_and_late_publish_one_event_each(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START, 60)

    outcome = register(db, fake_directory, lesson_id, [
        {"child_person_id": "pupil-1", "status": "absent"},
        {"child_person_id": "pupil-2", "status": "late", "late_minutes": 10},
        {"child_person_id": "pupil-3", "status": "present"},
    ])

    assert outcome["events"] == 2
    assert outcome["unregistered_pupil_person_ids"] == ["pupil-4"]
    events = payloads(db, "absence_registered")
    assert sorted((event["child_person_id"], event["kind"], event["late_minutes"]) for event in events) == [
        ("pupil-1", "absent", None),
        ("pupil-2", "late", 10),
    ]
    assert events[0]["local_date"] == "2026-02-10"
    assert events[0]["local_start_time"] == "09:00:00"


def test_same_registration_twice_publishes_nothing_new(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START)
    marks = [{"child_person_id": "pupil-1", "status": "absent"}]

    register(db, fake_directory, lesson_id, marks)
    second = register(db, fake_directory, lesson_id, marks)

    assert second["events"] == 0
    assert second["unchanged"] == 1
    assert len(outbox_events(db)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(attendance_mark_versions)) == 1


def test_correction_to_late_publishes_new_state(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START)
    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "absent"}])

    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "late", "late_minutes": 15}])

    events = payloads(db, "absence_registered")
    assert [(event["kind"], event["late_minutes"]) for event in events] == [("absent", None), ("late", 15)]
    assert events[0]["registration_id"] == events[1]["registration_id"]


def test_correction_to_present_withdraws(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START)
    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "absent"}])

    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "present"}])
    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "present"}])

    withdrawn = payloads(db, "absence_registration_withdrawn")
    assert len(withdrawn) == 1
    assert withdrawn[0]["registration_id"] == payloads(db, "absence_registered")[0]["registration_id"]


def test_correction_keeps_every_version(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START)
    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "absent"}])
    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "late", "late_minutes": 5}])
    register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "present"}], "mentor-1")

    versions = db.execute(
        sa.select(attendance_mark_versions.c.version, attendance_mark_versions.c.status,
                  attendance_mark_versions.c.registered_by).order_by(attendance_mark_versions.c.version)
    ).all()
    assert [tuple(row) for row in versions] == [
        (1, "absent", "teacher-1"), (2, "late", "teacher-1"), (3, "present", "mentor-1")
    ]


def test_absence_covered_by_report_publishes_nothing(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START)
    with db.begin():
        report_absence(db, fake_directory, publisher(db), "guardian-1",
                       {"child_person_id": "pupil-1", "first_date": "2026-02-10", "reason": "illness"}, NOW)

    outcome = register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "absent"}])

    assert outcome["events"] == 0
    assert outcome["marks"][0]["valid_absence"] is True
    assert outcome["marks"][0]["reported_absence_id"] is not None
    assert payloads(db, "absence_registered") == []


@pytest.mark.parametrize("mark, field, code", [
    ({"child_person_id": "pupil-1", "status": "late", "late_minutes": -5}, "marks.0.late_minutes", "out_of_range"),
    ({"child_person_id": "pupil-1", "status": "late", "late_minutes": 0}, "marks.0.late_minutes", "out_of_range"),
    ({"child_person_id": "pupil-1", "status": "late", "late_minutes": 61}, "marks.0.late_minutes", "out_of_range"),
    ({"child_person_id": "pupil-1", "status": "late", "late_minutes": 1.5}, "marks.0.late_minutes", "not_whole_number"),
    ({"child_person_id": "pupil-1", "status": "late"}, "marks.0.late_minutes", "missing_field"),
    ({"child_person_id": "pupil-1", "status": "absent", "late_minutes": 5}, "marks.0.late_minutes",
     "late_minutes_without_late"),
    ({"child_person_id": "pupil-1", "status": "sick"}, "marks.0.status", "invalid_choice"),
    ({"status": "absent"}, "marks.0.child_person_id", "missing_field"),
    ({"child_person_id": "pupil-9", "status": "absent"}, "marks.0.child_person_id", "pupil_not_in_group"),
    ({"child_person_id": "nobody", "status": "absent"}, "marks.0.child_person_id", "pupil_not_in_group"),
])
def test_invalid_mark_is_rejected_and_nothing_stored(db, fake_directory, mark, field, code):
    lesson_id = add_lesson(db, LESSON_START, 60)

    with pytest.raises(InvalidRequest) as raised:
        register(db, fake_directory, lesson_id, [mark])

    assert raised.value.code == code
    assert raised.value.field == field
    assert db.scalar(sa.select(sa.func.count()).select_from(attendance_marks)) == 0
    assert outbox_events(db) == []


def test_invalid_second_mark_stores_nothing_of_first(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START, 60)

    with pytest.raises(InvalidRequest) as raised:
        register(db, fake_directory, lesson_id, [
            {"child_person_id": "pupil-1", "status": "absent"},
            {"child_person_id": "pupil-9", "status": "absent"},
        ])

    assert raised.value.field == "marks.1.child_person_id"
    assert db.scalar(sa.select(sa.func.count()).select_from(attendance_marks)) == 0
    assert outbox_events(db) == []


def test_same_pupil_twice_in_one_request_is_rejected(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START)

    with pytest.raises(InvalidRequest) as raised:
        register(db, fake_directory, lesson_id, [
            {"child_person_id": "pupil-1", "status": "absent"},
            {"child_person_id": "pupil-1", "status": "present"},
        ])

    assert raised.value.code == "duplicate_pupil"
    assert raised.value.field == "marks.1.child_person_id"


def test_staff_of_other_unit_may_not_register(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START, teachers=())

    # Both get the answer for a missing lesson, so neither learns it exists.
    with pytest.raises(NotFound):
        register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "absent"}], "teacher-b")
    with pytest.raises(NotFound):
        register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "absent"}], "guardian-1")


def test_staff_with_duty_at_unit_may_register(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START, teachers=())

    outcome = register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "present"}], "mentor-1")

    assert outcome["changed"] == 1


def test_cancelled_lesson_is_rejected(db, fake_directory):
    lesson_id = add_lesson(db, LESSON_START)
    from torget_attendance.schedule import cancel_lesson

    with db.begin():
        cancel_lesson(db, fake_directory, "teacher-1", lesson_id, NOW)

    with pytest.raises(Conflict) as raised:
        register(db, fake_directory, lesson_id, [{"child_person_id": "pupil-1", "status": "absent"}])
    assert raised.value.code == "lesson_cancelled"
