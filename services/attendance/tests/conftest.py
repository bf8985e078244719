"""Fixtures of the attendance tests: the directory test double, an event recorder and lesson builders."""

import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy.orm import Session

# pytest runs with --import-mode=importlib, so the test double is imported from this folder by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import directory_double  # noqa: E402
from event_recorder import EventRecorder, recorded  # noqa: E402

from torget_attendance.models import lesson_groups, lesson_teachers, lessons  # noqa: E402
from torget_attendance.schooltime import local_date  # noqa: E402
from torget_attendance.service import AttendanceService  # noqa: E402
from torget_shared.caller import ACCOUNT, Caller  # noqa: E402
from torget_shared.db import make_engine, utcnow  # noqa: E402
from torget_shared.outbox import outbox_table, write_event  # noqa: E402


@pytest.fixture(autouse=True)
def world():
    """Reset the directory double's data before each test and return it."""
    directory_double.reset_world()
    recorded.clear()
    return directory_double.WORLD


def caller_context(person_id: str) -> dict:
    return {"caller": Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id).to_context(),
            "calling_service": "gateway"}


@pytest.fixture
def attendance(start_service, container_factory, rabbit_config):
    """Start the directory double, an event recorder and the attendance service; return a proxy factory.

    ``attendance.as_person(person_id)`` returns an RPC proxy that calls as that person.
    """
    directory = container_factory(directory_double.DirectoryDouble, {"AMQP_URI": rabbit_config["AMQP_URI"]})
    directory.start()
    recorder = container_factory(EventRecorder, {"AMQP_URI": rabbit_config["AMQP_URI"]})
    recorder.start()
    service = start_service(AttendanceService, DIRECTORY_MAX_AGE=0, DIRECTORY_TIMEOUT=1)

    proxies = []

    def as_person(person_id: str):
        proxy = ServiceRpcProxy(
            "attendance", {"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=10, context_data=caller_context(person_id)
        )
        proxies.append(proxy)
        return proxy.start()

    service.as_person = as_person
    service.directory_container = directory
    yield service
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def engine_of():
    engines = []

    def make(url: str):
        engine = make_engine(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def db(service_database, engine_of):
    """A session on a fresh migrated attendance database, for the domain tests."""
    engine = engine_of(service_database("attendance"))
    with Session(engine) as session:
        yield session


@pytest.fixture
def fake_directory():
    return directory_double.FakeDirectory()


def outbox_events(session_or_engine, event_type: str | None = None) -> list[dict]:
    query = sa.select(outbox_table.c.envelope).order_by(outbox_table.c.created_at)
    if event_type is not None:
        query = query.where(outbox_table.c.event_type == event_type)
    if isinstance(session_or_engine, Session):
        return list(session_or_engine.scalars(query))
    with session_or_engine.connect() as connection:
        return list(connection.scalars(query))


def publisher(session: Session):
    def publish(event_type: str, payload: dict) -> dict:
        return write_event(session, "attendance", event_type, payload)

    return publish


def add_lesson(
    session_or_engine,
    starts_at: datetime,
    minutes: int = 60,
    *,
    group_ids=(directory_double.GROUP_7A,),
    teachers=("teacher-1",),
    unit_id=directory_double.UNIT_A,
    name="Matematik",
) -> str:
    """Insert a lesson straight into the database and return its id."""
    lesson_id = str(uuid.uuid4())
    now = utcnow()
    statements = [
        (
            sa.insert(lessons),
            [
                {
                    "id": lesson_id,
                    "unit_id": unit_id,
                    "name": name,
                    "starts_at": starts_at,
                    "ends_at": starts_at + timedelta(minutes=minutes),
                    "local_date": local_date(starts_at),
                    "cancelled": False,
                    "source": "staff",
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        ),
        (sa.insert(lesson_groups), [{"lesson_id": lesson_id, "group_id": group} for group in group_ids]),
        (sa.insert(lesson_teachers), [{"lesson_id": lesson_id, "teacher_person_id": t} for t in teachers]),
    ]
    if isinstance(session_or_engine, Session):
        for statement, rows in statements:
            if rows:
                session_or_engine.execute(statement, rows)
        session_or_engine.commit()
    else:
        with session_or_engine.begin() as connection:
            for statement, rows in statements:
                if rows:
                    connection.execute(statement, rows)
    return lesson_id


def at(text: str) -> datetime:
    """Parse an ISO 8601 timestamp with its offset."""
    return datetime.fromisoformat(text).astimezone(timezone.utc)
