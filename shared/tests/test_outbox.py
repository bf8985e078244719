"""The outbox: a crash never loses an event, a stuck claim is taken over."""

import logging
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from kombu import Connection, Queue
from nameko.standalone.events import get_event_exchange

from torget_shared.db import make_engine, utcnow
from torget_shared.outbox import FAILED, PENDING, SENT, UNROUTED, OutboxRelay, outbox_table, write_event
from torget_shared.testing.probe import EVENT, PRODUCER, received_rows, wait_for

CRASH_AFTER_COMMIT = """
import os, signal, sys
import sqlalchemy as sa
from sqlalchemy.orm import Session
from torget_shared.db import make_engine
from torget_shared.outbox import write_event
import torget_shared.testing.probe  # registers the probe_recorded schema

engine = make_engine(sys.argv[1])
with Session(engine) as session, session.begin():
    write_event(session, "probe_producer", "probe_recorded", {"note_id": 1, "text": "survived"})
# Committed; the process dies before any relay could publish.
os.kill(os.getpid(), signal.SIGKILL)
"""


def outbox_rows(database_url: str) -> list[dict]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(sa.select(outbox_table))]
    engine.dispose()
    return rows


def add_event(engine, text: str) -> str:
    with engine.begin() as connection:
        from sqlalchemy.orm import Session

        with Session(bind=connection) as session:
            return write_event(session, PRODUCER, EVENT, {"note_id": 1, "text": text})["event_id"]


def test_crash_after_commit_still_delivers(probe):
    def crash_while_writing(producer_url):
        done = subprocess.run([sys.executable, "-c", CRASH_AFTER_COMMIT, producer_url], capture_output=True, text=True)
        assert done.returncode == -9, done.stderr
        assert [row["state"] for row in outbox_rows(producer_url)] == [PENDING]

    services = probe(before_producer=crash_while_writing)

    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert [row["text"] for row in rows] == ["survived"]
    assert wait_for(lambda: [row["state"] for row in outbox_rows(services.producer_url)] == [SENT])


def test_claim_of_dead_relay_is_taken_over(probe, amqp_uri):
    services = probe(start_producer=False)
    engine = make_engine(services.producer_url)
    event_id = add_event(engine, "taken over")

    crashed = OutboxRelay(engine, amqp_uri, PRODUCER, lease=60, relay_id="crashed")
    assert [row[0] for row in crashed._claim()] == [event_id]  # claims, then dies

    survivor = OutboxRelay(engine, amqp_uri, PRODUCER, lease=60, relay_id="survivor")
    assert survivor.relay_once() == 0

    # Let the crashed relay's lease run out, as it would a minute later.
    with engine.begin() as connection:
        connection.execute(sa.update(outbox_table).values(claimed_until=utcnow() - timedelta(seconds=1)))
    assert survivor.relay_once() == 1

    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert [row["event_id"] for row in rows] == [event_id]
    engine.dispose()


def test_unreachable_broker_retries_then_fails(service_database):
    database_url = service_database("attendance")
    engine = make_engine(database_url)
    add_event(engine, "nowhere to go")
    # Nothing listens on port 1 of the loopback address.
    relay = OutboxRelay(engine, "amqp://guest:guest@127.0.0.1:1/", PRODUCER, retry_delays=(60.0,))

    assert relay.relay_once() == 0
    [row] = outbox_rows(database_url)
    assert row["state"] == PENDING
    assert row["attempts"] == 1
    assert row["available_at"] > utcnow() + timedelta(seconds=30)
    assert "ECONNREFUSED" in row["last_error"]

    # The retry is not due yet, so nothing is claimed.
    assert relay.relay_once() == 0
    assert outbox_rows(database_url)[0]["attempts"] == 1

    # Move the retry time to now, as if the delay had passed.
    with engine.begin() as connection:
        connection.execute(sa.update(outbox_table).values(available_at=utcnow()))
    assert relay.relay_once() == 0
    [row] = outbox_rows(database_url)
    assert row["state"] == FAILED
    assert row["attempts"] == 2
    engine.dispose()


def test_event_without_queue_marked_unrouted(service_database, amqp_uri, caplog):
    database_url = service_database("attendance")
    engine = make_engine(database_url)
    add_event(engine, "unbound")
    relay = OutboxRelay(engine, amqp_uri, PRODUCER, retry_delays=(60.0,))

    with caplog.at_level(logging.WARNING, logger="amqp"):
        assert relay.relay_once() == 1
        assert relay.relay_once() == 0
    # The broker's ack of the returned event comes on the closing channel; py-amqp's warning about it is dropped.
    assert [record.getMessage() for record in caplog.records if record.name == "amqp"] == []

    [row] = outbox_rows(database_url)
    assert row["state"] == UNROUTED
    assert row["attempts"] == 0
    assert row["sent_at"] is not None
    assert "no queue is bound" in row["last_error"]
    engine.dispose()


def test_two_relays_publish_each_event_once(service_database, amqp_uri):
    database_url = service_database("attendance")
    engine = make_engine(database_url)
    event_count = 300
    with engine.begin() as connection:
        from sqlalchemy.orm import Session

        with Session(bind=connection) as session:
            for number in range(event_count):
                write_event(session, PRODUCER, EVENT, {"note_id": number, "text": "race"})

    queue = Queue("race-counter", exchange=get_event_exchange(PRODUCER, {}), routing_key=EVENT, durable=True)
    with Connection(amqp_uri) as connection:
        queue(connection.default_channel).declare()

    relays = [OutboxRelay(engine, amqp_uri, PRODUCER, batch_size=20, relay_id=f"relay-{n}") for n in range(2)]
    sent_by_relay = [0, 0]

    def drain(index):
        while True:
            sent = relays[index].relay_once()
            if sent == 0:
                return
            sent_by_relay[index] += sent

    threads = [threading.Thread(target=drain, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with Connection(amqp_uri) as connection:
        _, message_count, _ = queue(connection.default_channel).queue_declare(passive=True)
    assert sum(sent_by_relay) == event_count
    assert message_count == event_count
    assert {row["state"] for row in outbox_rows(database_url)} == {SENT}
    engine.dispose()


def test_invalid_payload_is_rejected_before_the_outbox(service_database):
    from marshmallow import ValidationError
    from sqlalchemy.orm import Session

    engine = make_engine(service_database("attendance"))
    with Session(engine) as session:
        with pytest.raises(ValidationError) as error:
            write_event(session, PRODUCER, EVENT, {"note_id": "not a number", "text": "x"})
    assert "note_id" in error.value.messages
    engine.dispose()
