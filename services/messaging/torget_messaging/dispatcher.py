"""Sending ledger rows through their provider, and the sweeper that brings stuck rows back.

Each step runs in its own short transaction: the claim is committed before
the provider is called, and the outcome is committed after it. No database
transaction stays open across a provider call.
"""

import logging
import os
import signal
from datetime import timedelta

from sqlalchemy import select

from torget_messaging import ledger
from torget_messaging.models import absence_notice
from torget_messaging.providers import (
    DeliveryError,
    DeliveryOutcomeUnknown,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from torget_messaging.providers.email import EmailSender, build_message
from torget_messaging.providers.sms import SmsClient
from torget_messaging.settings import MessagingSettings

log = logging.getLogger(__name__)

# Test-only: set to "after_sms_provider_call" (or "after_email_provider_call")
# and the process kills itself with SIGKILL right after the provider accepted
# a message of that channel and before the outcome is recorded, as a crash at
# the worst moment would.
CRASH_POINT_VARIABLE = "MESSAGING_TEST_CRASH_POINT"
# Seconds a correction waits while the notice it corrects is still being sent.
CORRECTION_WAIT = 5.0
# The provider's clock may run behind ours; the history is read from this much
# before the ledger row was created.
HISTORY_CLOCK_SKEW = timedelta(seconds=5)


class Providers:
    """The SMS client and the SMTP sender of one service instance."""

    def __init__(self, settings: MessagingSettings):
        self.settings = settings
        self.sms = SmsClient(
            settings.sms_api_url,
            settings.sms_api_username,
            settings.sms_api_password,
            settings.sms_sender,
            connect_timeout=settings.sms_connect_timeout,
            read_timeout=settings.sms_timeout,
        )
        self.email = EmailSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.email_sender,
            sender_name=settings.email_sender_name,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            security=settings.smtp_security,
            timeout=settings.smtp_timeout,
        )

    def send(self, row) -> str:
        if row.channel == ledger.SMS:
            return self.sms.send(row.address, row.body)
        message = build_message(
            self.settings.email_sender,
            self.settings.email_sender_name,
            row.address,
            row.subject,
            row.body,
            row.html_body,
            message_id=email_message_id(row.delivery_id, self.settings.email_sender),
            language=row.language,
        )
        return self.email.send(message)


def email_message_id(delivery_id: str, sender: str) -> str:
    """Return the Message-ID of a delivery: the same for every attempt, so duplicates can be recognised."""
    domain = sender.rpartition("@")[2] or "torget.invalid"
    return f"<{delivery_id}@{domain}>"


def _crash_if_asked(channel: str) -> None:
    if os.environ.get(CRASH_POINT_VARIABLE) == f"after_{channel}_provider_call":
        log.warning("test crash point reached: killing the process")
        os.kill(os.getpid(), signal.SIGKILL)


class Dispatcher:
    """Sends ledger rows for one worker, using that worker's database session."""

    def __init__(self, db, providers: Providers, settings: MessagingSettings):
        self.db = db
        self.providers = providers
        self.settings = settings

    def deliver(self, delivery_id: str) -> str | None:
        """Send one due ``pending`` row; return its new state, or None if it was not due or not ours."""
        with self.db.transaction() as session:
            row = self._claim(session, delivery_id)
        if row is None:
            return None

        try:
            provider_message_id = self.providers.send(row)
        except DeliveryOutcomeUnknown as exc:
            return self._outcome_unknown(row, str(exc))
        except PermanentDeliveryError as exc:
            return self._attempt_failed(row, str(exc), permanent=True)
        except (TransientDeliveryError, DeliveryError) as exc:
            return self._attempt_failed(row, str(exc), permanent=False)
        except Exception as exc:  # a bug or an unexpected library error: the message may be out
            log.exception("provider call raised unexpectedly", extra=_ids(row))
            return self._outcome_unknown(row, f"{type(exc).__name__}: {exc}")

        _crash_if_asked(row.channel)
        with self.db.transaction() as session:
            ledger.mark_sent(session, row, provider_message_id)
        log.info("notification sent", extra={**_ids(row), "attempt": row.attempts, "provider_message_id": provider_message_id})
        return ledger.SENT

    def deliver_all(self, delivery_ids: list[str]) -> None:
        for delivery_id in delivery_ids:
            try:
                self.deliver(delivery_id)
            except Exception:
                # The row stays pending or sending; the sweeper takes it up.
                log.exception("delivery failed before an outcome was recorded", extra={"delivery_id": delivery_id})

    def _claim(self, session, delivery_id: str):
        current = ledger.get(session, delivery_id)
        if current is None or current.state != ledger.PENDING:
            return None

        if current.kind == ledger.ABSENCE_NOTICE and current.notice_id is not None:
            # The lock orders this claim against a withdrawal of the notice.
            state = session.execute(
                select(absence_notice.c.state).where(absence_notice.c.notice_id == current.notice_id).with_for_update()
            ).scalar_one()
            if state == "withdrawn":
                ledger.cancel(session, delivery_id, "the absence registration was withdrawn")
                return None

        if current.kind == ledger.ABSENCE_CORRECTION and not self._correction_due(session, current):
            return None

        return ledger.claim(session, delivery_id, self.settings.sending_lease)

    def _correction_due(self, session, correction) -> bool:
        """Send a correction only after the notice it corrects was sent; cancel it if that never happens."""
        original = ledger.get(session, correction.corrects_delivery_id)
        if original.state == ledger.SENT:
            return True
        if original.state in ledger.FINAL_STATES:
            ledger.cancel(session, correction.delivery_id, f"the corrected notice ended {original.state}")
            return False
        ledger.postpone(session, correction.delivery_id, CORRECTION_WAIT, "waiting for the corrected notice")
        return False

    def _outcome_unknown(self, row, error: str) -> str:
        with self.db.transaction() as session:
            ledger.mark_unknown(session, row, error, self.settings.reconcile_delay)
        log.warning("notification outcome unknown, will reconcile: %s", error, extra=_ids(row))
        return ledger.UNKNOWN

    def _attempt_failed(self, row, error: str, permanent: bool, from_states=(ledger.SENDING,)) -> str:
        with self.db.transaction() as session:
            state = ledger.record_failure(session, row, error, self.settings.retry_delays, permanent, from_states)
        if state == ledger.FAILED:
            log.error("notification failed after %d attempts: %s", row.attempts, error, extra=_ids(row))
        else:
            log.warning("notification attempt %d failed, will retry: %s", row.attempts, error, extra=_ids(row))
        return state

    def reconcile(self, delivery_id: str) -> str | None:
        """Settle an ``unknown`` row: sent if the provider has the message, else a failed attempt."""
        with self.db.transaction() as session:
            row = ledger.claim_for_reconcile(session, delivery_id, self.settings.sending_lease)
        if row is None:
            return None

        if row.channel == ledger.EMAIL:
            # NOTE: SMTP has no way to ask whether a message arrived. The
            # e-mail is sent again with the same Message-ID, which mail
            # clients use to fold duplicates; it may still show twice.
            return self._attempt_failed(row, f"outcome unknown, resending: {row.last_error}", False, (ledger.UNKNOWN,))

        try:
            provider_message_id = self.providers.sms.find_sent(row.address, row.body, since=row.created_at - HISTORY_CLOCK_SKEW)
        except TransientDeliveryError as exc:
            log.warning("SMS history unreadable, reconciling later: %s", exc, extra=_ids(row))
            return ledger.UNKNOWN

        if provider_message_id is not None:
            with self.db.transaction() as session:
                ledger.mark_sent(session, row, provider_message_id, from_states=(ledger.UNKNOWN,))
            log.info("reconciled: the provider has the SMS", extra={**_ids(row), "provider_message_id": provider_message_id})
            return ledger.SENT

        log.info("reconciled: the provider has no such SMS", extra=_ids(row))
        return self._attempt_failed(row, f"not at the provider after: {row.last_error}", False, (ledger.UNKNOWN,))

    def sweep(self) -> dict:
        """Bring back stuck rows: expired leases, due reconciliations and due retries."""
        with self.db.transaction() as session:
            expired = ledger.expire_leases(session)
        for delivery_id in expired:
            log.warning("delivery lease expired during the provider call; reconciling", extra={"delivery_id": delivery_id})

        with self.db.transaction() as session:
            unknown = ledger.due_ids(session, ledger.UNKNOWN, self.settings.sweep_batch)
        for delivery_id in unknown:
            try:
                self.reconcile(delivery_id)
            except Exception:
                log.exception("reconciliation failed", extra={"delivery_id": delivery_id})

        with self.db.transaction() as session:
            pending = ledger.due_ids(session, ledger.PENDING, self.settings.sweep_batch)
        self.deliver_all(pending)
        return {"expired": len(expired), "reconciled": len(unknown), "retried": len(pending)}


def _ids(row) -> dict:
    return {
        "delivery_id": row.delivery_id,
        "event_id": row.event_id,
        "channel": row.channel,
        "kind": row.kind,
    }
