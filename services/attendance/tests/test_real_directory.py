"""Attendance against the real school directory service, loaded with its generated SS 12000 data set.

The directory's test municipality (the generator's "test" size) is imported
once per module with the directory's own importer into a template database,
and each test starts the real directory service on a copy of it. The
scenario ids (a guardian with two children at different units, a family
with protected identity, a teacher elsewhere) come from the generator.

The import of the test municipality writes about 7,500 events, and the
outbox relay published about 50 a second in this setup (most with no
subscriber), so the template's events are marked sent: these tests are
about the directory's RPCs. The test of
imported lessons instead runs a real import by RPC while attendance listens,
of a smaller municipality from the same generator and seed, so that the
relay publishes all of its events within seconds.
"""

import os
import uuid
from datetime import datetime, time as wall_time, timedelta

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ServiceRpcProxy

from conftest import outbox_events
from torget_attendance.models import lesson_groups, lesson_teachers, lessons
from torget_attendance.schooltime import SCHOOL_TIMEZONE, to_utc
from torget_attendance.service import AttendanceService
from torget_school_directory.generator import Size, generate, write_dump
from torget_school_directory.importer import Importer
from torget_school_directory.pin import protector_from_env
from torget_school_directory.service import SchoolDirectoryService
from torget_school_directory.sources import DumpSource
from torget_shared.caller import ACCOUNT, Caller
from torget_shared.db import make_engine
from torget_shared.outbox import SENT, outbox_table
from torget_shared.testing.probe import wait_for

SEED = 12000
# Keys of the directory's personal identity number protection, for tests only.
PIN_KEYS = {
    "DIRECTORY_PIN_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
    "DIRECTORY_PIN_HASH_KEY": "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
}
# The minimum number of units that the generator's scenarios need, each unit small:
# 570 records instead of the test size's 4,805.
SMALL = Size(
    preschools=2,
    compulsory_schools=1,
    upper_secondary_schools=1,
    adult_centres=1,
    children_per_department=3,
    pupils_per_class=3,
    departments_per_preschool=1,
    classes_per_year=1,
    calendar_events_per_activity=2,
)
ADMINISTRATOR = "directory-administrator"


@pytest.fixture(scope="module")
def municipality():
    return generate(SEED, "test")


@pytest.fixture(scope="module")
def directory_template(municipality, database_factory, tmp_path_factory):
    """Return the name of a directory database with the test municipality imported and its events marked sent."""
    folder = tmp_path_factory.mktemp("ss12000_dump")
    write_dump(municipality, str(folder))
    url = database_factory.create("school_directory")
    engine = make_engine(url)
    try:
        report = Importer(engine, protector_from_env(PIN_KEYS)).run(DumpSource(str(folder)))
        assert report.status == "complete", report.error
        with engine.begin() as connection:
            connection.execute(sa.update(outbox_table).values(state=SENT))
    finally:
        engine.dispose()
    yield sa.make_url(url).database
    database_factory.drop(url)


@pytest.fixture
def directory_database(directory_template, database_factory):
    """Return the URL of a fresh copy of the imported directory database."""
    name = f"torget_test_school_directory_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(database_factory.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{directory_template}"'))
    admin.dispose()
    url = database_factory.url_for(name)
    yield url
    database_factory.drop(url)


def account(person_id: str, *roles: str) -> Caller:
    return Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id, roles=roles, assurance="bankid")


@pytest.fixture
def client_as(rabbit_config):
    """Return a function that makes an RPC proxy to a service, calling as an account through the gateway."""
    proxies = []

    def client(service_name: str, caller: Caller, timeout: float = 20):
        context = {"caller": caller.to_context(), "calling_service": "gateway"}
        proxy = ServiceRpcProxy(service_name, {"AMQP_URI": rabbit_config["AMQP_URI"]}, context_data=context, timeout=timeout)
        proxies.append(proxy)
        return proxy.start()

    yield client
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def stack(start_service, directory_database):
    """Start the real directory on the imported test municipality and attendance; return attendance's proxy."""
    start_service(SchoolDirectoryService, database_url=directory_database, **PIN_KEYS)
    return start_service(AttendanceService, DIRECTORY_MAX_AGE=0, DIRECTORY_TIMEOUT=10)


def attendance_as(client_as, person_id: str):
    return client_as("attendance", account(person_id))


def class_teacher(municipality, group_id: str) -> str:
    """Return the person id of the teacher of the group's first activity in the generated data."""
    entities = municipality.entities
    activity = next(a for a in entities["activities"] if a["groups"][0]["id"] == group_id)
    duty_id = activity["teachers"][0]["duty"]["id"]
    return next(duty["person"]["id"] for duty in entities["duties"] if duty["id"] == duty_id)


def group_member_ids(municipality, group_id: str) -> list[str]:
    group = next(g for g in municipality.entities["groups"] if g["id"] == group_id)
    return [membership["person"]["id"] for membership in group["groupMemberships"]]


def tomorrow():
    return datetime.now(SCHOOL_TIMEZONE).date() + timedelta(days=1)


def test_teacher_registers_lesson_of_real_group(stack, client_as, municipality, engine_of):
    scenario = municipality.scenario
    first_class = scenario["first_class"]
    teacher = attendance_as(client_as, class_teacher(municipality, first_class))
    starts_at = to_utc(tomorrow(), wall_time(9, 0))

    lesson = teacher.create_lesson({
        "unit_id": scenario["school"], "name": "Matematik", "group_ids": [first_class],
        "starts_at": starts_at.isoformat(), "ends_at": (starts_at + timedelta(minutes=40)).isoformat(),
    })
    marks = [
        {"child_person_id": pupil, "status": "absent" if pupil == scenario["older_child"] else "present"}
        for pupil in group_member_ids(municipality, first_class)
    ]
    outcome = teacher.register_lesson(lesson["id"], marks)

    assert outcome["changed"] == len(marks)
    assert outcome["events"] == 1
    assert outcome["unregistered_pupil_person_ids"] == []
    registered = [envelope["payload"] for envelope in outbox_events(engine_of(stack.database_url), "absence_registered")]
    assert [payload["child_person_id"] for payload in registered] == [scenario["older_child"]]
    assert registered[0]["unit_id"] == scenario["school"]


def test_pupil_of_other_group_is_rejected(stack, client_as, municipality):
    scenario = municipality.scenario
    first_class = scenario["first_class"]
    teacher = attendance_as(client_as, class_teacher(municipality, first_class))
    starts_at = to_utc(tomorrow(), wall_time(10, 0))
    lesson = teacher.create_lesson({
        "unit_id": scenario["school"], "name": "Svenska", "group_ids": [first_class],
        "starts_at": starts_at.isoformat(), "ends_at": (starts_at + timedelta(minutes=40)).isoformat(),
    })

    with pytest.raises(Exception) as raised:
        teacher.register_lesson(lesson["id"], [{"child_person_id": scenario["younger_child"], "status": "absent"}])

    assert "pupil_not_in_group" in str(raised.value)


def test_teacher_elsewhere_is_rejected(stack, client_as, municipality):
    scenario = municipality.scenario
    first_class = scenario["first_class"]
    starts_at = to_utc(tomorrow(), wall_time(11, 0))
    lesson = {
        "unit_id": scenario["school"], "name": "Matematik", "group_ids": [first_class],
        "starts_at": starts_at.isoformat(), "ends_at": (starts_at + timedelta(minutes=40)).isoformat(),
    }
    created = attendance_as(client_as, class_teacher(municipality, first_class)).create_lesson(lesson)
    outsider = attendance_as(client_as, scenario["teacher_elsewhere"])

    with pytest.raises(Exception) as creating:
        outsider.create_lesson(lesson)
    with pytest.raises(Exception) as registering:
        outsider.register_lesson(created["id"], [{"child_person_id": scenario["older_child"], "status": "absent"}])
    with pytest.raises(Exception) as reading:
        outsider.group_schedule(first_class, tomorrow().isoformat(), tomorrow().isoformat())

    assert "no_duty_at_unit" in str(creating.value)
    assert "lesson_not_found" in str(registering.value)
    assert "group_not_found" in str(reading.value)


def test_guardian_reports_each_child_absent(stack, client_as, municipality):
    scenario = municipality.scenario
    guardian = attendance_as(client_as, scenario["guardian"])
    day = tomorrow().isoformat()

    older = guardian.report_absence({"child_person_id": scenario["older_child"], "first_date": day, "reason": "illness"})
    younger = guardian.report_absence({"child_person_id": scenario["younger_child"], "first_date": day, "reason": "illness"})

    assert older["unit_id"] == scenario["school"]
    assert younger["unit_id"] == scenario["preschool"]
    assert [report["id"] for report in guardian.child_absence_reports(scenario["older_child"], day, day)] == [older["id"]]


def test_guardian_of_other_family_gets_not_found(stack, client_as, municipality):
    scenario = municipality.scenario
    other_guardian = attendance_as(client_as, scenario["protected_guardian"])
    day = tomorrow().isoformat()

    with pytest.raises(Exception) as other_child:
        other_guardian.report_absence({"child_person_id": scenario["older_child"], "first_date": day, "reason": "illness"})
    with pytest.raises(Exception) as missing_child:
        other_guardian.report_absence({"child_person_id": str(uuid.uuid4()), "first_date": day, "reason": "illness"})

    assert "child_not_found" in str(other_child.value)
    assert str(other_child.value) == str(missing_child.value)
    assert type(other_child.value) is type(missing_child.value)


@pytest.fixture(scope="module")
def small_municipality():
    return generate(SEED, SMALL)


@pytest.fixture
def importing_stack(start_service, client_as, small_municipality, tmp_path):
    """Start the real directory on an empty database and attendance, then import the small municipality by RPC."""
    write_dump(small_municipality, str(tmp_path / "small"))
    start_service(SchoolDirectoryService, DIRECTORY_IMPORT_DIR=str(tmp_path), **PIN_KEYS)
    attendance = start_service(AttendanceService, DIRECTORY_MAX_AGE=0, DIRECTORY_TIMEOUT=10)

    administrator = client_as("school_directory", account(ADMINISTRATOR, "administrator"), timeout=60)
    report = administrator.import_ss12000(dump_name="small")
    assert report["status"] == "complete", report["error"]
    return attendance


def test_imported_activities_arrive_as_lessons(importing_stack, client_as, small_municipality, engine_of):
    municipality = small_municipality
    entities = municipality.entities
    engine = engine_of(importing_stack.database_url)

    def lesson_count():
        with engine.connect() as connection:
            return connection.scalar(
                sa.select(sa.func.count()).select_from(lessons).where(lessons.c.source == "ss12000")
            )

    wait_for(lambda: lesson_count() == len(entities["calendarEvents"]), timeout=60)

    calendar_event = entities["calendarEvents"][0]
    activity = next(a for a in entities["activities"] if a["id"] == calendar_event["activity"]["id"])
    group_id = activity["groups"][0]["id"]
    with engine.connect() as connection:
        lesson = connection.execute(sa.select(lessons).where(lessons.c.id == calendar_event["id"])).one()
        groups = list(connection.scalars(sa.select(lesson_groups.c.group_id).where(lesson_groups.c.lesson_id == lesson.id)))
        teachers = list(
            connection.scalars(sa.select(lesson_teachers.c.teacher_person_id).where(lesson_teachers.c.lesson_id == lesson.id))
        )
    starts_at = datetime.fromisoformat(calendar_event["startTime"])
    assert lesson.starts_at == starts_at
    assert lesson.local_date == starts_at.astimezone(SCHOOL_TIMEZONE).date()
    assert lesson.activity_id == activity["id"]
    assert lesson.unit_id == activity["organisation"]["id"]
    assert lesson.name == activity["displayName"]
    assert groups == [group_id]
    assert teachers == [class_teacher(municipality, group_id)]

    teacher = attendance_as(client_as, teachers[0])
    day = lesson.local_date.isoformat()
    assert calendar_event["id"] in [row["id"] for row in teacher.group_schedule(group_id, day, day)]


def test_switched_off_reporting_counts_at_once(start_service, directory_database, client_as, municipality):
    scenario = municipality.scenario
    start_service(SchoolDirectoryService, database_url=directory_database, **PIN_KEYS)
    # Stored replies stay fresh for an hour, so only the event can bring the switch in time.
    start_service(AttendanceService, DIRECTORY_MAX_AGE=3600, DIRECTORY_TIMEOUT=10)
    guardian = attendance_as(client_as, scenario["guardian"])
    day = tomorrow().isoformat()
    guardian.report_absence({"child_person_id": scenario["younger_child"], "first_date": day, "reason": "illness"})

    principal = client_as("school_directory", account(scenario["principal"], "staff"))
    principal.set_unit_features(scenario["preschool"], {"absence_reporting": False})

    # Each try reports another day, so a report accepted before the event arrived does not overlap the next.
    later_days = iter(range(1, 14))

    def rejected() -> bool:
        day = (tomorrow() + timedelta(days=next(later_days))).isoformat()
        try:
            guardian.report_absence({"child_person_id": scenario["younger_child"], "first_date": day, "reason": "illness"})
        except Exception as exc:
            return "absence_reporting_disabled" in str(exc)
        return False

    wait_for(rejected, timeout=12, interval=1.0)
