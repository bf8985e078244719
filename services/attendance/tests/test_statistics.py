"""Absence statistics over a hand-built schedule, run against PostgreSQL without a broker.

Every expected number is counted by hand in the test from the lessons and
marks it creates.
"""

import pytest
import sqlalchemy as sa

from conftest import add_lesson, at, publisher
from directory_double import GROUP_7A, GROUP_9B, UNIT_B
from torget_attendance.errors import NotFound
from torget_attendance.models import lesson_teachers
from torget_attendance.registration import register_lesson
from torget_attendance.reports import report_absence
from torget_attendance.rules import set_rules
from torget_attendance.schedule import cancel_lesson
from torget_attendance.statistics import group_statistics, mentor_flags, pupil_statistics

REGISTERED_AT = at("2026-02-13T16:00:00+01:00")
REPORTED_AT = at("2026-02-09T07:00:00+01:00")
FIRST_DATE = "2026-02-09"
LAST_DATE = "2026-02-13"


def run(db, function, *args):
    with db.begin():
        return function(db, *args)


def register(db, directory, lesson_id, marks, person_id="teacher-1"):
    with db.begin():
        return register_lesson(db, directory, publisher(db), person_id, lesson_id, marks, REGISTERED_AT)


@pytest.fixture
def week(db, fake_directory):
    """Build one school week of group 7A and return its lesson ids.

    Scheduled per pupil: Monday 60 + Tuesday 45 + Thursday 30 = 135 minutes,
    because Wednesday's lesson is cancelled and the lessons of the next
    Monday and of group 9B fall outside the statistics.
    """
    monday = add_lesson(db, at("2026-02-09T08:00:00+01:00"), 60)
    tuesday = add_lesson(db, at("2026-02-10T09:00:00+01:00"), 45)
    wednesday = add_lesson(db, at("2026-02-11T10:00:00+01:00"), 90)
    thursday = add_lesson(db, at("2026-02-12T13:00:00+01:00"), 30)
    next_monday = add_lesson(db, at("2026-02-16T08:00:00+01:00"), 60)
    other_group = add_lesson(
        db, at("2026-02-10T09:00:00+01:00"), 60, group_ids=(GROUP_9B,), teachers=("teacher-b",), unit_id=UNIT_B
    )

    register(db, fake_directory, monday, [
        {"child_person_id": "pupil-1", "status": "absent"},
        {"child_person_id": "pupil-2", "status": "late", "late_minutes": 15},
        {"child_person_id": "pupil-3", "status": "late", "late_minutes": 10, "valid_absence": True},
        {"child_person_id": "pupil-4", "status": "late", "late_minutes": 5},
    ])
    register(db, fake_directory, tuesday, [
        {"child_person_id": "pupil-1", "status": "absent", "valid_absence": True},
        {"child_person_id": "pupil-2", "status": "absent"},
        {"child_person_id": "pupil-3", "status": "absent"},
        {"child_person_id": "pupil-4", "status": "present"},
    ])
    # A correction replaces the mark, so only its latest version counts.
    register(db, fake_directory, tuesday, [
        {"child_person_id": "pupil-2", "status": "present"},
        {"child_person_id": "pupil-3", "status": "late", "late_minutes": 5},
    ])
    register(db, fake_directory, wednesday, [{"child_person_id": "pupil-4", "status": "absent"}])
    run(db, cancel_lesson, fake_directory, "teacher-1", wednesday, REGISTERED_AT)
    register(db, fake_directory, next_monday, [{"child_person_id": "pupil-1", "status": "absent"}])
    register(db, fake_directory, other_group, [{"child_person_id": "pupil-9", "status": "absent"}], "teacher-b")

    # A guardian reports pupil 2 away from 13:10, so 20 of Thursday's 30 minutes are valid absence.
    with db.begin():
        report_absence(db, fake_directory, publisher(db), "guardian-1", {
            "child_person_id": "pupil-2", "first_date": "2026-02-12", "start_time": "13:10", "end_time": "14:00",
            "reason": "medical_appointment",
        }, REPORTED_AT)
    return {"monday": monday, "tuesday": tuesday, "wednesday": wednesday, "thursday": thursday}


def pupils_by_id(statistics) -> dict:
    return {pupil["child_person_id"]: pupil for pupil in statistics["pupils"]}


def test_group_statistics_count_minutes(db, fake_directory, week):
    statistics = run(db, group_statistics, fake_directory, "teacher-1", GROUP_7A, FIRST_DATE, LAST_DATE)

    pupils = pupils_by_id(statistics)
    assert sorted(pupils) == ["pupil-1", "pupil-2", "pupil-3", "pupil-4"]
    minutes = {
        pupil_id: (pupil["scheduled_minutes"], pupil["valid_absence_minutes"], pupil["invalid_absence_minutes"])
        for pupil_id, pupil in pupils.items()
    }
    # pupil-1: absent Monday (60, invalid), absent Tuesday (45, valid).
    assert minutes["pupil-1"] == (135, 45, 60)
    # pupil-2: 15 late Monday, Tuesday corrected to present, 20 reported minutes on Thursday.
    assert minutes["pupil-2"] == (135, 20, 15)
    # pupil-3: 10 late Monday marked valid, Tuesday corrected from absent to 5 late.
    assert minutes["pupil-3"] == (135, 10, 5)
    # pupil-4: 5 late Monday. The absence in the cancelled lesson counts for nothing.
    assert minutes["pupil-4"] == (135, 0, 5)


def test_group_statistics_flag_threshold(db, fake_directory, week):
    statistics = run(db, group_statistics, fake_directory, "teacher-1", GROUP_7A, FIRST_DATE, LAST_DATE)

    pupils = pupils_by_id(statistics)
    assert statistics["absence_threshold_percent"] == 10
    # 105, 35, 15 and 5 of 135 minutes.
    assert pupils["pupil-1"]["absence_percent"] == 77.8
    assert pupils["pupil-2"]["absence_percent"] == 25.9
    assert pupils["pupil-3"]["absence_percent"] == 11.1
    assert pupils["pupil-4"]["absence_percent"] == 3.7
    assert statistics["flagged_pupil_person_ids"] == ["pupil-1", "pupil-2", "pupil-3"]


def test_group_statistics_follow_unit_threshold(db, fake_directory, week):
    run(db, set_rules, fake_directory, "principal-a", "unit-a", {"absence_threshold_percent": 30}, REGISTERED_AT)

    statistics = run(db, group_statistics, fake_directory, "teacher-1", GROUP_7A, FIRST_DATE, LAST_DATE)

    assert statistics["absence_threshold_percent"] == 30
    assert statistics["flagged_pupil_person_ids"] == ["pupil-1"]


def test_group_statistics_reject_staff_elsewhere(db, fake_directory, week):
    with pytest.raises(NotFound) as raised:
        run(db, group_statistics, fake_directory, "teacher-b", GROUP_7A, FIRST_DATE, LAST_DATE)

    assert raised.value.code == "group_not_found"


def test_pupil_statistics_match_group(db, fake_directory, week):
    for person_id in ("pupil-1", "guardian-1", "teacher-1"):
        statistics = run(db, pupil_statistics, fake_directory, person_id, "pupil-1", FIRST_DATE, LAST_DATE)

        assert statistics["scheduled_minutes"] == 135
        assert statistics["valid_absence_minutes"] == 45
        assert statistics["invalid_absence_minutes"] == 60
        assert statistics["flagged"] is True


@pytest.mark.parametrize("person_id", ["guardian-9", "guardian-3", "teacher-b", "pupil-2"])
def test_pupil_statistics_hidden_from_others(db, fake_directory, week, person_id):
    with pytest.raises(NotFound) as raised:
        run(db, pupil_statistics, fake_directory, person_id, "pupil-1", FIRST_DATE, LAST_DATE)

    assert raised.value.code == "child_not_found"


def test_mentor_flags_list_flagged_pupils(db, fake_directory, week):
    flags = run(db, mentor_flags, fake_directory, "teacher-1", FIRST_DATE, LAST_DATE)

    assert [(flag["group_id"], flag["child_person_id"]) for flag in flags] == [
        (GROUP_7A, "pupil-1"), (GROUP_7A, "pupil-2"), (GROUP_7A, "pupil-3"),
    ]


def test_mentor_flags_empty_without_lessons(db, fake_directory, week):
    assert run(db, mentor_flags, fake_directory, "mentor-1", FIRST_DATE, LAST_DATE) == []


def test_mentor_flags_skip_unit_without_duty(db, fake_directory, week):
    # teacher-b also teaches Monday's lesson of group 7A, at unit A where teacher-b has no duty.
    with db.begin():
        db.execute(sa.insert(lesson_teachers).values(lesson_id=week["monday"], teacher_person_id="teacher-b"))

    flags = run(db, mentor_flags, fake_directory, "teacher-b", FIRST_DATE, LAST_DATE)

    # Pupil 9 of group 9B at unit B missed the whole lesson.
    assert [(flag["group_id"], flag["child_person_id"]) for flag in flags] == [(GROUP_9B, "pupil-9")]


@pytest.mark.parametrize("late_minutes, flagged", [(7, False), (8, True)])
def test_flag_compares_unrounded_percent(db, fake_directory, late_minutes, flagged):
    # With a threshold of 1 percent, 7 of 720 minutes (0.97 percent) is below it and 8 (1.11 percent) above.
    lesson_id = add_lesson(db, at("2026-02-09T08:00:00+01:00"), 720)
    register(db, fake_directory, lesson_id, [
        {"child_person_id": "pupil-1", "status": "late", "late_minutes": late_minutes},
    ])
    run(db, set_rules, fake_directory, "principal-a", "unit-a", {"absence_threshold_percent": 1}, REGISTERED_AT)

    statistics = run(db, pupil_statistics, fake_directory, "teacher-1", "pupil-1", FIRST_DATE, LAST_DATE)

    assert statistics["invalid_absence_minutes"] == late_minutes
    assert statistics["flagged"] is flagged


@pytest.mark.parametrize("starts_at, ends_at, elapsed_minutes", [
    # Wall clock 01:00 to 04:00 on the day summer time starts: 02:00 to 03:00 is skipped.
    ("2026-03-29T01:00:00+01:00", "2026-03-29T04:00:00+02:00", 120),
    # Wall clock 01:00 to 04:00 on the day summer time ends: 02:00 to 03:00 happens twice.
    ("2026-10-25T01:00:00+02:00", "2026-10-25T04:00:00+01:00", 240),
])
def test_change_day_counts_elapsed_minutes(db, fake_directory, starts_at, ends_at, elapsed_minutes):
    start = at(starts_at)
    lesson_id = add_lesson(db, start, int((at(ends_at) - start).total_seconds() // 60))
    register(db, fake_directory, lesson_id, [
        {"child_person_id": "pupil-1", "status": "absent"},
        {"child_person_id": "pupil-3", "status": "late", "late_minutes": 30},
    ])
    run(db, set_rules, fake_directory, "principal-a", "unit-a", {"report_days_ahead": 365}, REPORTED_AT)
    # Pupil 2 is reported away the whole change day, 23 or 25 hours, which covers the lesson.
    with db.begin():
        report_absence(db, fake_directory, publisher(db), "guardian-1", {
            "child_person_id": "pupil-2", "first_date": starts_at[:10], "reason": "illness",
        }, REPORTED_AT)
    day = starts_at[:10]

    statistics = run(db, group_statistics, fake_directory, "teacher-1", GROUP_7A, day, day)

    pupils = pupils_by_id(statistics)
    assert pupils["pupil-1"]["scheduled_minutes"] == elapsed_minutes
    assert pupils["pupil-1"]["invalid_absence_minutes"] == elapsed_minutes
    assert pupils["pupil-2"]["valid_absence_minutes"] == elapsed_minutes
    assert pupils["pupil-2"]["invalid_absence_minutes"] == 0
    assert pupils["pupil-3"]["invalid_absence_minutes"] == 30
    assert pupils["pupil-4"]["scheduled_minutes"] == elapsed_minutes
    assert pupils["pupil-4"]["valid_absence_minutes"] + pupils["pupil-4"]["invalid_absence_minutes"] == 0
