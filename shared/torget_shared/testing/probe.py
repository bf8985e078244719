"""Two small probe services that exercise the platform: a producer and a consumer.

The producer writes a note and its ``probe_recorded`` event in one
transaction; the consumer records every event it handles. The text of a note
steers the consumer, so a test can make its handler fail in chosen ways.
"""

import time
from collections import Counter

import pytest
import sqlalchemy as sa
from marshmallow import Schema, fields
from nameko.rpc import rpc

from torget_shared.db import make_engine, new_metadata
from torget_shared.events import registry
from torget_shared.handlers import PermanentError, event_handler
from torget_shared.inbox import first_delivery
from torget_shared.service import ServiceBase

PRODUCER = "probe_producer"
CONSUMER = "probe_consumer"
EVENT = "probe_recorded"

test_metadata = new_metadata()
notes = sa.Table(
    "probe_notes",
    test_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.String(200), nullable=False),
)
received = sa.Table(
    "probe_received",
    test_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("text", sa.String(200), nullable=False),
    sa.Column("correlation_id", sa.String(128)),
)

# Handler attempts per event id, shared with the tests (services run in-process).
attempts: Counter = Counter()


@registry.register(EVENT, 1)
class ProbeRecorded(Schema):
    note_id = fields.Integer(required=True)
    text = fields.String(required=True)


class ProducerService(ServiceBase):
    name = PRODUCER

    @rpc
    def record(self, text: str) -> dict:
        with self.db.transaction() as session:
            note_id = session.execute(sa.insert(notes).values(text=text).returning(notes.c.id)).scalar_one()
            envelope = self.events(session, EVENT, {"note_id": note_id, "text": text})
        return {"note_id": note_id, "event_id": envelope["event_id"], "correlation_id": self.correlation_id}

    @rpc
    def record_and_roll_back(self, text: str) -> None:
        with self.db.transaction() as session:
            session.execute(sa.insert(notes).values(text=text))
            self.events(session, EVENT, {"note_id": 0, "text": text})
            raise ValueError("the change is rolled back, and its event with it")


class ConsumerService(ServiceBase):
    name = CONSUMER

    @event_handler(PRODUCER, EVENT)
    def on_recorded(self, event: dict) -> None:
        event_id = str(event["event_id"])
        attempts[event_id] += 1
        text = event["payload"]["text"]

        if text == "always fail":
            raise RuntimeError("this handler always fails")
        if text == "permanent":
            raise PermanentError("no retry can mend this")
        if text.split()[0] == "fail" and text.split()[1].isdigit() and attempts[event_id] <= int(text.split()[1]):
            raise RuntimeError(f"failing attempt {attempts[event_id]}")

        with self.db.transaction() as session:
            if not first_delivery(session, f"{self.name}.on_recorded", event):
                return
            session.execute(
                sa.insert(received).values(event_id=event_id, text=text, correlation_id=event["correlation_id"])
            )

        if text == "fail after commit" and attempts[event_id] == 1:
            # The effect is committed but the message is not acked yet: as if
            # the process died right here.
            raise RuntimeError("failed after the effect was committed")


def create_test_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    test_metadata.create_all(engine)
    engine.dispose()


def received_rows(database_url: str) -> list[dict]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(sa.select(received).order_by(received.c.id))]
    engine.dispose()
    return rows


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns a true value; return that value or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")
