"""The attendance endpoints through the gateway, with the attendance service and the directory test double.

The gateway does not verify tokens yet, so these tests set the caller of
each request from the X-Test-Person header with a hook added to the test app.
"""

import sys
import time
from datetime import datetime, time as wall_time, timedelta
from pathlib import Path

import pytest
from flask import g, request

from torget_shared.caller import ACCOUNT, Caller
from torget_shared.testing.probe import wait_for

# The directory test double and the event recorder live with the attendance tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "attendance" / "tests"))

import directory_double  # noqa: E402
from event_recorder import EventRecorder, recorded  # noqa: E402

from torget_attendance.schooltime import SCHOOL_TIMEZONE, to_utc  # noqa: E402
from torget_attendance.service import AttendanceService  # noqa: E402

TEST_PERSON_HEADER = "X-Test-Person"


def set_test_caller() -> None:
    person_id = request.headers.get(TEST_PERSON_HEADER)
    if person_id:
        g.caller = Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id)


@pytest.fixture
def stack(make_app, start_service, container_factory, rabbit_config):
    """Start the directory double, an event recorder, the attendance service and a gateway app."""
    directory_double.reset_world()
    recorded.clear()
    for service_cls in (directory_double.DirectoryDouble, EventRecorder):
        container = container_factory(service_cls, {"AMQP_URI": rabbit_config["AMQP_URI"]})
        container.start()
    service = start_service(AttendanceService, DIRECTORY_MAX_AGE=0)
    app = make_app()
    app.before_request(set_test_caller)
    return app.test_client(), service


def as_person(person_id, **headers):
    return {TEST_PERSON_HEADER: person_id, **headers}


def create_lesson(client, starts_at: datetime, minutes=60) -> str:
    response = client.post("/attendance/lessons", headers=as_person("teacher-1"), json={
        "unit_id": "unit-a", "name": "Matematik", "group_ids": ["group-7a"], "teacher_person_ids": ["teacher-1"],
        "starts_at": starts_at.isoformat(), "ends_at": (starts_at + timedelta(minutes=minutes)).isoformat(),
    })
    assert response.status_code == 201, response.json
    return response.json["id"]


def local_today():
    return datetime.now(SCHOOL_TIMEZONE).date()


def events_of(event_type):
    return [envelope for envelope in recorded if envelope["event_type"] == event_type]


def test_register_lesson_publishes_one_event_per_pupil(stack):
    client, _ = stack
    lesson_id = create_lesson(client, to_utc(local_today(), wall_time(8, 0)))
    body = {"marks": [
        {"child_person_id": "pupil-1", "status": "absent"},
        {"child_person_id": "pupil-2", "status": "late", "late_minutes": 7},
        {"child_person_id": "pupil-3", "status": "present"},
    ]}

    first = client.put(f"/attendance/lessons/{lesson_id}/registration", headers=as_person("teacher-1"), json=body)
    second = client.put(f"/attendance/lessons/{lesson_id}/registration", headers=as_person("teacher-1"), json=body)

    assert first.status_code == 200
    assert (first.json["events"], second.json["events"]) == (2, 0)
    wait_for(lambda: len(events_of("absence_registered")) >= 2)
    time.sleep(0.5)
    kinds = sorted((e["payload"]["child_person_id"], e["payload"]["kind"]) for e in events_of("absence_registered"))
    assert kinds == [("pupil-1", "absent"), ("pupil-2", "late")]


def test_sick_report_then_absence_publishes_no_notice(stack):
    client, _ = stack
    tomorrow = local_today() + timedelta(days=1)
    lesson_id = create_lesson(client, to_utc(tomorrow, wall_time(9, 0)))

    report = client.post("/attendance/absence-reports", headers=as_person("guardian-1"), json={
        "child_person_id": "pupil-1", "first_date": tomorrow.isoformat(),
        "last_date": (tomorrow + timedelta(days=1)).isoformat(), "reason": "illness",
    })
    assert report.status_code == 201, report.json

    lesson = client.get(f"/attendance/lessons/{lesson_id}", headers=as_person("teacher-1")).json
    pupil = next(p for p in lesson["pupils"] if p["child_person_id"] == "pupil-1")
    assert pupil["reported_absence_id"] == report.json["id"]

    registration = client.put(f"/attendance/lessons/{lesson_id}/registration", headers=as_person("teacher-1"),
                              json={"marks": [{"child_person_id": "pupil-1", "status": "absent"}]})
    assert registration.json["events"] == 0
    wait_for(lambda: events_of("absence_reported"))
    time.sleep(0.5)
    assert events_of("absence_registered") == []


@pytest.mark.parametrize("headers, message", [
    ({}, "Fältet marks.0.late_minutes måste vara mellan 1 och 60."),
    ({"Accept-Language": "en"}, "The field marks.0.late_minutes must be between 1 and 60."),
])
def test_too_many_late_minutes_is_422_naming_field(stack, headers, message):
    client, _ = stack
    lesson_id = create_lesson(client, to_utc(local_today(), wall_time(8, 0)))

    response = client.put(f"/attendance/lessons/{lesson_id}/registration", headers=as_person("teacher-1", **headers),
                          json={"marks": [{"child_person_id": "pupil-1", "status": "late", "late_minutes": 61}]})

    assert response.status_code == 422
    assert response.json["error"]["code"] == "out_of_range"
    assert response.json["error"]["message"] == message
    assert response.json["error"]["fields"] == {"marks.0.late_minutes": [message]}


def test_report_for_child_outside_custody_is_404(stack):
    client, _ = stack
    body = {"first_date": local_today().isoformat(), "reason": "illness"}

    not_in_custody = client.post("/attendance/absence-reports", headers=as_person("guardian-3"),
                                 json={"child_person_id": "pupil-1", **body})
    unknown = client.post("/attendance/absence-reports", headers=as_person("guardian-3"),
                          json={"child_person_id": "no-such-child", **body})

    assert not_in_custody.status_code == unknown.status_code == 404
    assert not_in_custody.json["error"]["message"] == unknown.json["error"]["message"]


def test_report_where_unit_switched_off_is_403(stack):
    client, _ = stack

    response = client.post("/attendance/absence-reports", headers=as_person("guardian-9"),
                           json={"child_person_id": "pupil-9", "first_date": local_today().isoformat(),
                                 "reason": "illness"})

    assert response.status_code == 403
    assert response.json["error"]["code"] == "absence_reporting_disabled"
    assert "frånvaroanmälan" in response.json["error"]["message"]


def test_reversed_report_period_is_422(stack):
    client, _ = stack

    response = client.post("/attendance/absence-reports", headers=as_person("guardian-1"),
                           json={"child_person_id": "pupil-1", "first_date": local_today().isoformat(),
                                 "start_time": "12:00", "end_time": "08:00", "reason": "illness"})

    assert response.status_code == 422
    assert list(response.json["error"]["fields"]) == ["end_time"]


def test_anonymous_request_is_401(stack):
    client, _ = stack

    response = client.get("/attendance/units/unit-a/rules", headers={"Accept-Language": "en"})

    assert response.status_code == 401
    assert response.json["error"]["message"] == "Log in to do this."


def test_malformed_registration_is_422_from_gateway(stack):
    client, _ = stack

    response = client.put("/attendance/lessons/any/registration", headers=as_person("teacher-1"),
                          json={"marks": [{"status": "absent"}]})

    assert response.status_code == 422
    assert "marks.0.child_person_id" in response.json["error"]["fields"]
