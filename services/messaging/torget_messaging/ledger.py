"""The delivery ledger: one row per (event id, recipient, channel), moved through named states.

    pending ──claim──▶ sending ──▶ sent
       ▲                  │  ╲
       │ (retry due)      │   ╲ timeout, or lease ran out (crash)
       └── attempt failed ┘    ▼
                            unknown ──reconcile──▶ sent | pending | failed

``pending`` rows wait for ``next_attempt_at``. A claim moves a row to
``sending`` with a lease and counts the attempt. The claim is committed
before the provider is called. A crash during the call therefore leaves a
row in ``sending``, which the sweeper finds once its lease has run out. ``unknown``
means the provider may have the message: it is reconciled with the provider,
never sent again blindly. ``failed`` rows publish ``notification_failed``;
``sent`` rows publish ``notification_delivered``, for the kinds that the
events' contract lists. ``cancelled`` (withdrawn
before sending) and ``skipped`` (no address, channel turned off) are final.

Every transition is a conditional UPDATE on the current state, so two
workers or instances can never both move one row.
"""

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from torget_messaging.models import absence_notice, delivery
from torget_shared.contracts.messaging import NOTIFICATION_KINDS
from torget_shared.db import utcnow
from torget_shared.outbox import write_event

log = logging.getLogger(__name__)

PRODUCER = "messaging"

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
UNKNOWN = "unknown"
FAILED = "failed"
CANCELLED = "cancelled"
SKIPPED = "skipped"
FINAL_STATES = (SENT, FAILED, CANCELLED, SKIPPED)

SMS = "sms"
EMAIL = "email"

ABSENCE_NOTICE = "absence_notice"
ABSENCE_CORRECTION = "absence_correction"
EMAIL_VERIFICATION = "email_verification"
ANNOUNCEMENT_NOTICE = "announcement_notice"
CONVERSATION_NOTICE = "conversation_notice"
FEEDBACK_ANSWER_NOTICE = "feedback_answer_notice"


def add_delivery(session: Session, **values) -> str:
    """Insert a ledger row (``pending`` unless ``state`` says otherwise) and return its id."""
    now = utcnow()
    delivery_id = str(uuid.uuid4())
    values.setdefault("state", PENDING)
    values.setdefault("recipient_protected", False)
    session.execute(
        insert(delivery).values(
            delivery_id=delivery_id,
            attempts=0,
            next_attempt_at=now if values["state"] == PENDING else None,
            created_at=now,
            updated_at=now,
            **values,
        )
    )
    return delivery_id


def get(session: Session, delivery_id: str, lock: bool = False):
    query = select(delivery).where(delivery.c.delivery_id == delivery_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).first()


def claim(session: Session, delivery_id: str, lease: float):
    """Move a due ``pending`` row to ``sending`` and count the attempt; return the row, or None."""
    now = utcnow()
    return session.execute(
        update(delivery)
        .where(
            delivery.c.delivery_id == delivery_id,
            delivery.c.state == PENDING,
            delivery.c.next_attempt_at <= now,
        )
        .values(
            state=SENDING,
            attempts=delivery.c.attempts + 1,
            attempt_started_at=now,
            lease_until=now + timedelta(seconds=lease),
            updated_at=now,
        )
        .returning(*delivery.c)
    ).first()


def postpone(session: Session, delivery_id: str, delay: float, reason: str) -> None:
    """Leave a ``pending`` row for later without counting an attempt."""
    now = utcnow()
    session.execute(
        update(delivery)
        .where(delivery.c.delivery_id == delivery_id, delivery.c.state == PENDING)
        .values(next_attempt_at=now + timedelta(seconds=delay), last_error=reason, updated_at=now)
    )


def cancel(session: Session, delivery_id: str, reason: str) -> bool:
    now = utcnow()
    result = session.execute(
        update(delivery)
        .where(delivery.c.delivery_id == delivery_id, delivery.c.state == PENDING)
        .values(state=CANCELLED, next_attempt_at=None, last_error=reason, updated_at=now)
    )
    return result.rowcount == 1


def mark_sent(session: Session, row, provider_message_id: str | None, from_states=(SENDING,)) -> bool:
    """Record that the provider accepted the message, and publish ``notification_delivered``."""
    now = utcnow()
    result = session.execute(
        update(delivery)
        .where(delivery.c.delivery_id == row.delivery_id, delivery.c.state.in_(from_states))
        .values(
            state=SENT,
            provider_message_id=provider_message_id,
            sent_at=now,
            lease_until=None,
            next_attempt_at=None,
            last_error=None,
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        return False

    if _has_event_contract(row):
        payload = _event_payload(session, row)
        payload.update(provider_message_id=provider_message_id, sms_segments=row.sms_segments, delivered_at=now.isoformat())
        write_event(session, PRODUCER, "notification_delivered", payload)
    return True


def mark_unknown(session: Session, row, error: str, reconcile_after: float, from_states=(SENDING,)) -> bool:
    """Record that the provider may have the message; reconcile it after ``reconcile_after`` seconds."""
    now = utcnow()
    result = session.execute(
        update(delivery)
        .where(delivery.c.delivery_id == row.delivery_id, delivery.c.state.in_(from_states))
        .values(
            state=UNKNOWN,
            next_attempt_at=now + timedelta(seconds=reconcile_after),
            lease_until=None,
            last_error=error[:2000],
            updated_at=now,
        )
    )
    return result.rowcount == 1


def record_failure(
    session: Session,
    row,
    error: str,
    retry_delays: tuple[float, ...],
    permanent: bool,
    from_states=(SENDING,),
) -> str:
    """Schedule the next attempt, or mark the row failed after the last; return the new state."""
    now = utcnow()
    attempts = row.attempts
    if permanent or attempts > len(retry_delays):
        values = {"state": FAILED, "next_attempt_at": None}
    else:
        values = {"state": PENDING, "next_attempt_at": now + timedelta(seconds=retry_delays[attempts - 1])}

    result = session.execute(
        update(delivery)
        .where(delivery.c.delivery_id == row.delivery_id, delivery.c.state.in_(from_states))
        .values(lease_until=None, last_error=error[:2000], updated_at=now, **values)
    )
    if result.rowcount != 1:
        return row.state

    if values["state"] == FAILED and _has_event_contract(row):
        payload = _event_payload(session, row)
        payload.update(reason=error[:1000], failed_at=now.isoformat())
        write_event(session, PRODUCER, "notification_failed", payload)
    return values["state"]


def expire_leases(session: Session) -> list[str]:
    """Move ``sending`` rows whose lease ran out to ``unknown``; return their ids.

    A row in ``sending`` past its lease belongs to a worker that died or
    hung during the provider call: the provider may have the message.
    """
    now = utcnow()
    rows = session.execute(
        update(delivery)
        .where(delivery.c.state == SENDING, delivery.c.lease_until < now)
        .values(state=UNKNOWN, next_attempt_at=now, lease_until=None, last_error="lease expired during the provider call", updated_at=now)
        .returning(delivery.c.delivery_id)
    ).all()
    return [row.delivery_id for row in rows]


def claim_for_reconcile(session: Session, delivery_id: str, lease: float):
    """Take a due ``unknown`` row for reconciliation; return it, or None if another worker has it."""
    now = utcnow()
    return session.execute(
        update(delivery)
        .where(delivery.c.delivery_id == delivery_id, delivery.c.state == UNKNOWN, delivery.c.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=lease), updated_at=now)
        .returning(*delivery.c)
    ).first()


def due_ids(session: Session, state: str, limit: int, now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    return list(
        session.execute(
            select(delivery.c.delivery_id)
            .where(delivery.c.state == state, delivery.c.next_attempt_at <= now)
            .order_by(delivery.c.next_attempt_at)
            .limit(limit)
        ).scalars()
    )


def _has_event_contract(row) -> bool:
    """Return whether the notification events' contract accepts the row's kind.

    The outbox rejects a payload that breaks its schema, and that would roll
    back the state change with it: a sent e-mail would stay ``sending`` and
    be sent again after its lease ran out. A kind the contract does not list
    yet is therefore recorded in the ledger without an event.
    """
    if row.kind in NOTIFICATION_KINDS:
        return True
    log.debug("no notification event for kind %s", row.kind, extra={"delivery_id": row.delivery_id})
    return False


def _event_payload(session: Session, row) -> dict:
    child_person_id = unit_id = None
    if row.notice_id is not None:
        notice = session.execute(
            select(absence_notice.c.child_person_id, absence_notice.c.unit_id).where(
                absence_notice.c.notice_id == row.notice_id
            )
        ).first()
        if notice is not None:
            child_person_id, unit_id = notice.child_person_id, notice.unit_id
    return {
        "delivery_id": row.delivery_id,
        "kind": row.kind,
        "channel": row.channel,
        "source_event_id": row.event_id,
        "recipient": row.recipient,
        "notice_id": row.notice_id,
        "child_person_id": child_person_id,
        "unit_id": unit_id,
        "attempts": row.attempts,
    }
