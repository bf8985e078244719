"""Guardians' absence reports, run against PostgreSQL without a broker."""

import pytest
import sqlalchemy as sa

from conftest import add_lesson, at, outbox_events, publisher
from torget_attendance.errors import Conflict, FeatureDisabled, InvalidRequest, NotFound
from torget_attendance.models import absence_reports
from torget_attendance.reports import report_absence
from torget_attendance.rules import set_rules
from torget_attendance.views import child_schedule

NOW = at("2026-02-10T07:15:00+01:00")


def report(db, directory, data, person_id="guardian-1", now=NOW):
    with db.begin():
        return report_absence(db, directory, publisher(db), person_id, data, now)


def stored_reports(db) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(absence_reports))


def test_two_days_sick_covers_both_local_days(db, fake_directory):
    created = report(db, fake_directory, {
        "child_person_id": "pupil-1", "first_date": "2026-02-11", "last_date": "2026-02-12", "reason": "illness"
    })

    assert created["starts_at"] == "2026-02-10T23:00:00+00:00"
    assert created["ends_at"] == "2026-02-12T23:00:00+00:00"
    payload = outbox_events(db, "absence_reported")[0]["payload"]
    assert payload["first_local_date"] == "2026-02-11"
    assert payload["last_local_date"] == "2026-02-12"
    assert payload["reported_by_person_id"] == "guardian-1"


def test_part_of_day_report(db, fake_directory):
    created = report(db, fake_directory, {
        "child_person_id": "pupil-1", "first_date": "2026-02-10", "start_time": "10:00", "end_time": "12:30",
        "reason": "medical_appointment",
    })

    assert created["starts_at"] == "2026-02-10T09:00:00+00:00"
    assert created["ends_at"] == "2026-02-10T11:30:00+00:00"
    assert created["last_local_date"] == "2026-02-10"


def test_reported_lessons_show_reported_absence(db, fake_directory):
    covered = add_lesson(db, at("2026-02-11T09:00:00+01:00"))
    outside = add_lesson(db, at("2026-02-13T09:00:00+01:00"))
    created = report(db, fake_directory, {
        "child_person_id": "pupil-1", "first_date": "2026-02-11", "last_date": "2026-02-12", "reason": "illness"
    })

    with db.begin():
        lessons = child_schedule(db, fake_directory, "guardian-1", "pupil-1", "2026-02-09", "2026-02-15")

    by_id = {lesson["id"]: lesson for lesson in lessons}
    assert by_id[covered]["reported_absence_id"] == created["id"]
    assert by_id[outside]["reported_absence_id"] is None


@pytest.mark.parametrize("guardian, child", [
    ("guardian-3", "pupil-1"),  # a guardian without custody
    ("guardian-9", "pupil-1"),  # the guardian of another child
    ("guardian-1", "no-such-child"),
])
def test_child_outside_custody_is_not_found(db, fake_directory, guardian, child):
    with pytest.raises(NotFound) as raised:
        report(db, fake_directory, {"child_person_id": child, "first_date": "2026-02-11", "reason": "illness"},
               person_id=guardian)

    assert raised.value.code == "child_not_found"
    assert raised.value.params == {}
    assert stored_reports(db) == 0


def test_unit_with_reporting_off_rejects(db, fake_directory):
    with pytest.raises(FeatureDisabled) as raised:
        report(db, fake_directory, {"child_person_id": "pupil-9", "first_date": "2026-02-11", "reason": "illness"},
               person_id="guardian-9")

    assert raised.value.code == "absence_reporting_disabled"
    assert stored_reports(db) == 0


@pytest.mark.parametrize("data, field, code", [
    ({"first_date": "2026-02-12", "last_date": "2026-02-11"}, "last_date", "last_date_before_first_date"),
    ({"first_date": "2026-02-11", "start_time": "12:00", "end_time": "10:00"}, "end_time", "ends_before_start"),
    ({"first_date": "2026-02-11", "start_time": "12:00", "end_time": "12:00"}, "end_time", "ends_before_start"),
    ({"first_date": "2026-02-09"}, "first_date", "date_too_far_back"),
    ({"first_date": "2026-02-20", "last_date": "2026-02-25"}, "last_date", "date_too_far_ahead"),
    ({"first_date": "2026-02-30"}, "first_date", "invalid_date"),
    ({"first_date": "0001-01-01"}, "first_date", "out_of_range"),
    ({"first_date": "2026-02-11", "last_date": "9999-12-31"}, "last_date", "out_of_range"),
    ({"first_date": "2026-02-11", "start_time": "25:00"}, "start_time", "invalid_time"),
    ({"first_date": "2026-02-11", "reason": "bored"}, "reason", "invalid_choice"),
    ({}, "first_date", "missing_field"),
])
def test_invalid_report_is_rejected(db, fake_directory, data, field, code):
    with pytest.raises(InvalidRequest) as raised:
        report(db, fake_directory, {"child_person_id": "pupil-1", "reason": "illness", **data})

    assert raised.value.code == code
    assert raised.value.field == field
    assert stored_reports(db) == 0
    assert outbox_events(db) == []


def test_overlapping_report_is_rejected(db, fake_directory):
    first = report(db, fake_directory, {
        "child_person_id": "pupil-1", "first_date": "2026-02-11", "last_date": "2026-02-12", "reason": "illness"
    })

    with pytest.raises(Conflict) as raised:
        report(db, fake_directory, {
            "child_person_id": "pupil-1", "first_date": "2026-02-12", "start_time": "08:00", "end_time": "09:00",
            "reason": "medical_appointment",
        }, person_id="guardian-2")

    assert raised.value.code == "overlapping_report"
    assert raised.value.params == {"report_id": first["id"]}
    assert stored_reports(db) == 1


def test_adjacent_reports_do_not_overlap(db, fake_directory):
    report(db, fake_directory, {"child_person_id": "pupil-1", "first_date": "2026-02-11", "reason": "illness"})

    report(db, fake_directory, {"child_person_id": "pupil-1", "first_date": "2026-02-12", "reason": "illness"})

    assert stored_reports(db) == 2


def test_guardian_with_two_children_reports_each(db, fake_directory):
    report(db, fake_directory, {"child_person_id": "pupil-1", "first_date": "2026-02-11", "reason": "illness"})
    report(db, fake_directory, {"child_person_id": "pupil-2", "first_date": "2026-02-11", "reason": "illness"})

    children = sorted(envelope["payload"]["child_person_id"] for envelope in outbox_events(db, "absence_reported"))
    assert children == ["pupil-1", "pupil-2"]


@pytest.mark.parametrize("now, today", [
    ("2026-03-29T00:30:00+01:00", "2026-03-29"),  # last Sunday of March, before the change
    ("2026-10-25T00:30:00+02:00", "2026-10-25"),  # last Sunday of October, before the change
])
def test_report_at_0030_uses_local_date(db, fake_directory, now, today):
    with db.begin():
        set_rules(db, fake_directory, "principal-a", "unit-a",
                  {"report_days_ahead": 0, "report_days_back": 0}, at(now))

    created = report(db, fake_directory, {"child_person_id": "pupil-1", "first_date": today, "reason": "illness"},
                     now=at(now))

    assert created["first_local_date"] == today
    assert created["last_local_date"] == today
    with pytest.raises(InvalidRequest) as raised:
        report(db, fake_directory, {"child_person_id": "pupil-2", "first_date": "2026-03-28", "reason": "illness"},
               now=at(now))
    assert raised.value.code == "date_too_far_back"


@pytest.mark.parametrize("day, hours", [("2026-03-29", 23), ("2026-10-25", 25)])
def test_whole_change_day_is_covered(db, fake_directory, day, hours):
    with db.begin():
        set_rules(db, fake_directory, "principal-a", "unit-a", {"report_days_ahead": 365}, NOW)

    created = report(db, fake_directory, {"child_person_id": "pupil-1", "first_date": day, "reason": "illness"})

    length = at(created["ends_at"]) - at(created["starts_at"])
    assert length.total_seconds() == hours * 3600


def test_report_from_half_past_midnight_on_change_day(db, fake_directory):
    with db.begin():
        set_rules(db, fake_directory, "principal-a", "unit-a", {"report_days_ahead": 365}, NOW)

    created = report(db, fake_directory, {
        "child_person_id": "pupil-1", "first_date": "2026-03-29", "start_time": "00:30", "end_time": "04:00",
        "reason": "other",
    })

    assert created["starts_at"] == "2026-03-28T23:30:00+00:00"
    assert created["first_local_date"] == "2026-03-29"
    assert created["last_local_date"] == "2026-03-29"


def test_skipped_hour_is_rejected_in_report(db, fake_directory):
    with db.begin():
        set_rules(db, fake_directory, "principal-a", "unit-a", {"report_days_ahead": 365}, NOW)

    with pytest.raises(InvalidRequest) as raised:
        report(db, fake_directory, {
            "child_person_id": "pupil-1", "first_date": "2026-03-29", "start_time": "02:30", "reason": "other",
        })

    assert raised.value.code == "nonexistent_local_time"
    assert raised.value.field == "start_time"
