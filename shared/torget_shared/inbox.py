"""The inbox that makes event consumers idempotent.

A consumer records each event id it handled in its own ``inbox`` table, in the
same transaction as the effect. A redelivered event finds its row and is
skipped. Two deliveries racing each other both try to insert the same
primary key; the loser's transaction fails, its handler is retried, and the
retry finds the row.
"""

from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session

from torget_shared.db import UTCDateTime, utcnow


def define_inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("handled_at", UTCDateTime(), nullable=False),
    )


inbox_table = define_inbox_table(MetaData())


def first_delivery(session: Session, consumer: str, envelope: dict) -> bool:
    """Record ``envelope`` as handled by ``consumer``; return False if it already was.

    Call it inside the transaction that applies the event's effect, and apply
    the effect only when it returns True.
    """
    event_id = str(envelope["event_id"])
    seen = session.execute(
        select(inbox_table.c.event_id).where(
            inbox_table.c.consumer == consumer,
            inbox_table.c.event_id == event_id,
        )
    ).first()
    if seen is not None:
        return False

    session.execute(
        insert(inbox_table).values(
            consumer=consumer,
            event_id=event_id,
            event_type=envelope["event_type"],
            handled_at=utcnow(),
        )
    )
    return True
