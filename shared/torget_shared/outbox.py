"""The transactional outbox and its relay.

A service writes each event as a row in its own ``outbox`` table, in the same
transaction as the change the event describes. The relay then publishes the
row to the service's nameko event exchange with publisher confirms and marks
it sent. A crash between commit and publish leaves the row pending, so the
event is late but never lost.

Row states: ``pending`` (waiting, or waiting for a retry at ``available_at``),
``sent``, ``unrouted`` when the broker had no queue bound for the event type
(no service subscribes to it; handler queues are declared at deploy time,
so a subscriber's queue exists before any event it wants is published), and
``failed`` once every retry delay is used up. A relay claims rows
with a lease (``claimed_by``, ``claimed_until``). When a relay dies holding a
claim, the lease runs out and another relay takes the rows over. A row may
therefore be published twice, which is why every consumer is idempotent.
"""

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from amqp.abstract_channel import IGNORED_METHOD_DURING_CHANNEL_CLOSE
from nameko.amqp.publish import Publisher, UndeliverableMessage
from nameko.constants import HEADER_PREFIX
from nameko.standalone.events import get_event_exchange
from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from torget_shared.db import UTCDateTime, utcnow
from torget_shared.events import build_envelope

log = logging.getLogger(__name__)


class IgnoredAckOfReturnedMessage(logging.Filter):
    """Drops py-amqp's warning about the publisher confirm of a message the broker returned.

    An event with no queue bound comes back as basic.return, nameko raises
    UndeliverableMessage and closes the channel, and the broker's basic.ack
    (method 60, 80) that follows arrives on the closing channel. py-amqp
    warns once per such event, although the relay has marked it unrouted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.msg == IGNORED_METHOD_DURING_CHANNEL_CLOSE
            and record.args
            and tuple(record.args[0]) == (60, 80)
        )


logging.getLogger("amqp").addFilter(IgnoredAckOfReturnedMessage())

PENDING = "pending"
SENT = "sent"
UNROUTED = "unrouted"
FAILED = "failed"


def define_outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("envelope", JSON, nullable=False),
        Column("state", String(16), nullable=False, default=PENDING),
        Column("attempts", Integer, nullable=False, default=0),
        Column("available_at", UTCDateTime(), nullable=False),
        Column("claimed_by", String(100)),
        Column("claimed_until", UTCDateTime()),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("sent_at", UTCDateTime()),
        Column("last_error", Text),
        Index("ix_outbox_state_available_at", "state", "available_at"),
    )


# The relay and writer use this copy. Each service's own metadata contains an
# identical definition (see torget_shared.platform_tables) for its migrations.
outbox_table = define_outbox_table(MetaData())


def write_event(session: Session, producer: str, event_type: str, payload: dict, version: int | None = None) -> dict:
    """Add an event to the outbox inside the caller's transaction.

    The payload is checked against its registered schema first, so an event
    that breaks its contract fails the transaction instead of reaching the
    bus. Returns the envelope.
    """
    return write_events(session, producer, [(event_type, payload)], version)[0]


def write_events(connection, producer: str, events: list[tuple[str, dict]], version: int | None = None) -> list[dict]:
    """Add many ``(event_type, payload)`` events in one INSERT; return their envelopes.

    ``connection`` is a Session or a Connection inside the caller's transaction.
    """
    if not events:
        return []

    envelopes = [build_envelope(producer, event_type, payload, version) for event_type, payload in events]
    now = utcnow()
    rows = [
        {
            "event_id": envelope["event_id"],
            "event_type": envelope["event_type"],
            "envelope": envelope,
            "state": PENDING,
            "attempts": 0,
            "available_at": now,
            "created_at": now,
        }
        for envelope in envelopes
    ]
    connection.execute(insert(outbox_table), rows)
    return envelopes


class OutboxRelay:
    """Publishes pending outbox rows with publisher confirms."""

    def __init__(
        self,
        engine: Engine,
        amqp_uri: str,
        producer: str,
        poll_interval: float = 0.2,
        lease: float = 30.0,
        retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0),
        batch_size: int = 100,
        relay_id: str | None = None,
    ):
        self.engine = engine
        self.producer = producer
        self.poll_interval = poll_interval
        self.lease = timedelta(seconds=lease)
        self.retry_delays = retry_delays
        self.batch_size = batch_size
        self.relay_id = relay_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.exchange = get_event_exchange(producer, {})
        # mandatory=True: an event that no queue is bound for comes back as
        # UndeliverableMessage instead of vanishing, and is marked unrouted.
        self.publisher = Publisher(amqp_uri, use_confirms=True, mandatory=True, declare=[self.exchange])
        self._wake = threading.Event()
        self._stopped = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def run(self) -> None:
        log.info("outbox relay started", extra={"relay_id": self.relay_id})
        while not self._stopped.is_set():
            try:
                published = self.relay_once()
            except Exception:
                # The database or broker is away; the rows stay pending.
                log.exception("outbox relay pass failed", extra={"relay_id": self.relay_id})
                published = 0
            if published == 0:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        log.info("outbox relay stopped", extra={"relay_id": self.relay_id})

    def relay_once(self) -> int:
        """Claim a batch of due rows, publish them, and return how many were handled.

        The rows a batch published are marked in one UPDATE per outcome,
        because a commit per row limited the relay to the disk's commit
        rate. A crash before that UPDATE publishes the batch again later.
        """
        claimed = self._claim()
        sent_ids: list[str] = []
        unrouted_ids: list[str] = []

        for event_id, envelope, attempts in claimed:
            outcome = self._publish(event_id, envelope, attempts)
            if outcome == SENT:
                sent_ids.append(event_id)
            elif outcome == UNROUTED:
                unrouted_ids.append(event_id)
                log.info(
                    "outbox event %s has no subscriber; marked unrouted",
                    envelope["event_type"],
                    extra={"event_id": event_id},
                )

        self._mark(sent_ids, SENT, None)
        self._mark(unrouted_ids, UNROUTED, "no queue is bound for this event type")
        return len(sent_ids) + len(unrouted_ids)

    def _claim(self) -> list[tuple[str, dict, int]]:
        now = utcnow()
        due = (
            select(outbox_table.c.event_id)
            .where(
                outbox_table.c.state == PENDING,
                outbox_table.c.available_at <= now,
                or_(outbox_table.c.claimed_until.is_(None), outbox_table.c.claimed_until < now),
            )
            .order_by(outbox_table.c.created_at)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        # The claim conditions are repeated in the UPDATE, so two relays on
        # SQLite (which ignores FOR UPDATE) cannot both take one row.
        claim = (
            update(outbox_table)
            .where(
                outbox_table.c.event_id.in_(due.scalar_subquery()),
                outbox_table.c.state == PENDING,
                or_(outbox_table.c.claimed_until.is_(None), outbox_table.c.claimed_until < now),
            )
            .values(claimed_by=self.relay_id, claimed_until=now + self.lease)
            .returning(outbox_table.c.event_id, outbox_table.c.envelope, outbox_table.c.attempts)
        )
        with self.engine.begin() as connection:
            rows = connection.execute(claim).all()
        return sorted(((row[0], row[1], row[2]) for row in rows), key=lambda row: row[1]["occurred_at"])

    def _publish(self, event_id: str, envelope: dict, attempts: int) -> str | None:
        """Publish one row; return SENT, UNROUTED, or None after recording a failure."""
        headers = {f"{HEADER_PREFIX}.correlation_id": envelope["correlation_id"]}
        try:
            self.publisher.publish(
                envelope,
                exchange=self.exchange,
                routing_key=envelope["event_type"],
                headers=headers,
                message_id=event_id,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
        except UndeliverableMessage:
            return UNROUTED
        except Exception as exc:  # broker down, connection lost, nack
            self._record_failure(event_id, attempts, f"{type(exc).__name__}: {exc}")
            return None
        return SENT

    def _mark(self, event_ids: list[str], state: str, note: str | None) -> None:
        if not event_ids:
            return
        with self.engine.begin() as connection:
            connection.execute(
                update(outbox_table)
                .where(outbox_table.c.event_id.in_(event_ids))
                .values(state=state, sent_at=utcnow(), claimed_by=None, claimed_until=None, last_error=note)
            )
        log.debug("outbox events marked %s", state, extra={"count": len(event_ids)})

    def _record_failure(self, event_id: str, attempts: int, error: str) -> None:
        attempts += 1
        values = {"attempts": attempts, "claimed_by": None, "claimed_until": None, "last_error": error[:2000]}
        if attempts > len(self.retry_delays):
            values["state"] = FAILED
            log.error(
                "outbox event failed after %d attempts: %s",
                attempts,
                error,
                extra={"event_id": event_id},
            )
        else:
            delay = self.retry_delays[attempts - 1]
            values["available_at"] = utcnow() + timedelta(seconds=delay)
            log.warning(
                "outbox publish failed, retry %d in %.1f s: %s",
                attempts,
                delay,
                error,
                extra={"event_id": event_id},
            )

        with self.engine.begin() as connection:
            connection.execute(update(outbox_table).where(outbox_table.c.event_id == event_id).values(**values))


def count_by_state(connection) -> dict[str, int]:
    rows = connection.execute(
        select(outbox_table.c.state, func.count()).group_by(outbox_table.c.state)
    ).all()
    counts = {PENDING: 0, SENT: 0, UNROUTED: 0, FAILED: 0}
    counts.update({state: count for state, count in rows})
    return counts
