"""Absence notices and e-mail verification: turning events into ledger rows.

Each function runs inside the handler's transaction, together with the
inbox row, and returns the ids of the ledger rows to send now.
"""

import logging
import uuid

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from torget_messaging import ledger, read_model
from torget_messaging.models import absence_notice, delivery, notice_guardian
from torget_messaging.sms_text import count_sms
from torget_messaging.texts import NoticeTexts
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

ACTIVE = "active"
WITHDRAWN = "withdrawn"

NO_MOBILE = "the guardian has no mobile number"
INVALID_MOBILE = "the guardian's mobile number is not a valid number"
SMS_TURNED_OFF = "the guardian turned absence notices by SMS off"
SMS_OFF_FOR_UNIT = "the school unit has absence notices by SMS off"
NO_EMAIL = "the guardian has no verified e-mail address"
EMAIL_TURNED_OFF = "the guardian turned absence notices by e-mail off"


def _insert_ignoring_duplicate(session: Session, table, values: dict) -> None:
    """Insert a row unless its key exists; both channels' handlers write the same notice rows."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(table).values(**values).on_conflict_do_nothing())


def _time(value) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def _lock_notice(session: Session, registration_id: str):
    return session.execute(
        select(absence_notice).where(absence_notice.c.registration_id == registration_id).with_for_update()
    ).first()


def ensure_notice(session: Session, envelope: dict):
    """Create the notice of an ``absence_registered`` event if needed; return it, locked."""
    payload = envelope["payload"]
    _insert_ignoring_duplicate(
        session,
        absence_notice,
        {
            "notice_id": str(uuid.uuid4()),
            "registration_id": str(payload["registration_id"]),
            "event_id": str(envelope["event_id"]),
            "child_person_id": payload["child_person_id"],
            "unit_id": payload["unit_id"],
            "lesson_id": payload["lesson_id"],
            "lesson_name": payload["lesson_name"],
            "local_date": payload["local_date"],
            "local_start_time": _time(payload["local_start_time"]),
            "local_end_time": _time(payload["local_end_time"]),
            "kind": payload["kind"],
            "late_minutes": payload.get("late_minutes"),
            "state": ACTIVE,
            "created_at": utcnow(),
        },
    )
    notice = _lock_notice(session, str(payload["registration_id"]))
    if notice.event_id is None:
        # The withdrawal arrived first and created a bare notice.
        session.execute(
            update(absence_notice)
            .where(absence_notice.c.notice_id == notice.notice_id)
            .values(
                event_id=str(envelope["event_id"]),
                lesson_id=payload["lesson_id"],
                lesson_name=payload["lesson_name"],
                local_start_time=_time(payload["local_start_time"]),
                local_end_time=_time(payload["local_end_time"]),
                kind=payload["kind"],
                late_minutes=payload.get("late_minutes"),
            )
        )
        notice = _lock_notice(session, str(payload["registration_id"]))
    return notice


def child_display_name(child: read_model.Child) -> str | None:
    """Return the child's name as notices show it: given name only for a protected child."""
    if child.given_name is None:
        return None
    if child.protected_identity or not child.family_name:
        return child.given_name
    return f"{child.given_name} {child.family_name}"


def notice_context(notice, child: read_model.Child, public_url: str) -> dict:
    return {
        "child_name": child_display_name(child),
        "lesson_name": notice.lesson_name,
        "start_time": notice.local_start_time,
        "end_time": notice.local_end_time,
        "local_date": notice.local_date,
        "kind": notice.kind,
        "late_minutes": notice.late_minutes,
        "notice_url": f"{public_url}/notices/{notice.notice_id}",
    }


def _sms_skip_reason(guardian: read_model.Guardian, unit_sms_enabled: bool) -> str | None:
    if not unit_sms_enabled:
        return SMS_OFF_FOR_UNIT
    if not guardian.mobile:
        return NO_MOBILE
    if not guardian.sms_enabled:
        return SMS_TURNED_OFF
    try:
        number = phonenumbers.parse(guardian.mobile, None)
    except phonenumbers.NumberParseException:
        return INVALID_MOBILE
    if not phonenumbers.is_valid_number(number):
        return INVALID_MOBILE
    return None


def _email_skip_reason(guardian: read_model.Guardian) -> str | None:
    if not guardian.email:
        return NO_EMAIL
    if not guardian.email_enabled:
        return EMAIL_TURNED_OFF
    return None


def register_absence(
    session: Session, envelope: dict, channel: str, texts: NoticeTexts, public_url: str
) -> list[str]:
    """Write one ledger row per guardian with custody for ``channel``; return the rows to send."""
    notice = ensure_notice(session, envelope)
    if notice.state == WITHDRAWN:
        log.info("absence registration already withdrawn; no notice sent", extra={"notice_id": notice.notice_id})
        return []

    child = read_model.child(session, notice.child_person_id)
    guardians = read_model.guardians_with_custody(session, notice.child_person_id)
    if not guardians:
        log.warning("no guardian with custody known for the child; no notice sent", extra={"notice_id": notice.notice_id})
    unit_sms_enabled = read_model.sms_notices_enabled(session, notice.unit_id)
    context = notice_context(notice, child, public_url)

    to_send = []
    for guardian in guardians:
        _insert_ignoring_duplicate(
            session, notice_guardian, {"notice_id": notice.notice_id, "guardian_person_id": guardian.person_id}
        )
        delivery_id = _add_notice_delivery(session, envelope, notice, guardian, channel, texts, context, unit_sms_enabled)
        if delivery_id is not None:
            to_send.append(delivery_id)
    return to_send


def _add_notice_delivery(session, envelope, notice, guardian, channel, texts, context, unit_sms_enabled) -> str | None:
    language = texts.resolve_language(guardian.language)
    common = {
        "event_id": str(envelope["event_id"]),
        "recipient": guardian.person_id,
        "channel": channel,
        "kind": ledger.ABSENCE_NOTICE,
        "notice_id": notice.notice_id,
        "recipient_protected": guardian.protected_identity,
        "language": language,
        "correlation_id": envelope["correlation_id"],
    }

    if channel == ledger.SMS:
        reason = _sms_skip_reason(guardian, unit_sms_enabled)
        if reason is None:
            return ledger.add_delivery(session, address=guardian.mobile, **sms_fields(texts, ledger.ABSENCE_NOTICE, language, context), **common)
    else:
        reason = _email_skip_reason(guardian)
        if reason is None:
            return ledger.add_delivery(session, address=guardian.email, **email_fields(texts, ledger.ABSENCE_NOTICE, language, context), **common)

    ledger.add_delivery(session, state=ledger.SKIPPED, last_error=reason, **common)
    log.info("absence notice skipped: %s", reason, extra={"notice_id": notice.notice_id, "channel": channel})
    return None


def sms_fields(texts: NoticeTexts, kind: str, language: str, context: dict) -> dict:
    body = texts.render_sms(kind, language, context)
    count = count_sms(body)
    return {"body": body, "sms_encoding": count.encoding, "sms_segments": count.segments}


def email_fields(texts: NoticeTexts, kind: str, language: str, context: dict) -> dict:
    rendered = texts.render_email(kind, language, context)
    return {"subject": rendered.subject, "body": rendered.text, "html_body": rendered.html}


NO_VERIFIED_EMAIL = "the recipient has no verified e-mail address"
EMAIL_NOTICES_OFF = "the recipient turned e-mail notices off"


def add_email_notice(
    session: Session,
    texts: NoticeTexts,
    kind: str,
    event_id: str,
    recipient,
    context: dict,
    no_address: str = NO_VERIFIED_EMAIL,
    turned_off: str = EMAIL_NOTICES_OFF,
) -> str | None:
    """Store one e-mail of ``kind`` to ``recipient`` (a read_model.Guardian) in their language; return its delivery id.

    The ledger's key is (``event_id``, recipient, ``email``). A recipient
    with no address or with e-mail notices off gets a ``skipped`` row whose
    error is ``no_address`` or ``turned_off``, and None is returned.
    """
    common = {
        "event_id": event_id,
        "recipient": recipient.person_id,
        "channel": ledger.EMAIL,
        "kind": kind,
        "recipient_protected": recipient.protected_identity,
        "language": texts.resolve_language(recipient.language),
    }
    reason = None
    if not recipient.email:
        reason = no_address
    elif not recipient.email_enabled:
        reason = turned_off
    if reason is not None:
        ledger.add_delivery(session, state=ledger.SKIPPED, last_error=reason, **common)
        return None

    fields = email_fields(texts, kind, common["language"], context)
    return ledger.add_delivery(session, address=recipient.email, **fields, **common)


def withdraw_absence(session: Session, envelope: dict, texts: NoticeTexts, public_url: str) -> list[str]:
    """Withdraw a notice: cancel what is not sent yet, and correct what may have been sent."""
    payload = envelope["payload"]
    registration_id = str(payload["registration_id"])
    _insert_ignoring_duplicate(
        session,
        absence_notice,
        {
            "notice_id": str(uuid.uuid4()),
            "registration_id": registration_id,
            "child_person_id": payload["child_person_id"],
            "unit_id": payload["unit_id"],
            "lesson_id": payload["lesson_id"],
            "local_date": payload["local_date"],
            "state": WITHDRAWN,
            "created_at": utcnow(),
        },
    )
    notice = _lock_notice(session, registration_id)
    session.execute(
        update(absence_notice)
        .where(absence_notice.c.notice_id == notice.notice_id)
        .values(state=WITHDRAWN, withdrawal_event_id=str(envelope["event_id"]), withdrawn_at=utcnow())
    )

    originals = session.execute(
        select(delivery).where(delivery.c.notice_id == notice.notice_id, delivery.c.kind == ledger.ABSENCE_NOTICE)
    ).all()
    child = read_model.child(session, notice.child_person_id)
    context = notice_context(notice, child, public_url)

    corrections = []
    for original in originals:
        if original.state == ledger.PENDING:
            ledger.cancel(session, original.delivery_id, "the absence registration was withdrawn")
        elif original.state in (ledger.SENDING, ledger.SENT, ledger.UNKNOWN):
            corrections.append(_add_correction(session, envelope, original, texts, context))
    return corrections


def _add_correction(session, envelope, original, texts, context) -> str:
    if original.channel == ledger.SMS:
        content = sms_fields(texts, ledger.ABSENCE_CORRECTION, original.language, context)
    else:
        content = email_fields(texts, ledger.ABSENCE_CORRECTION, original.language, context)
    return ledger.add_delivery(
        session,
        event_id=str(envelope["event_id"]),
        recipient=original.recipient,
        channel=original.channel,
        kind=ledger.ABSENCE_CORRECTION,
        notice_id=original.notice_id,
        corrects_delivery_id=original.delivery_id,
        address=original.address,
        recipient_protected=original.recipient_protected,
        language=original.language,
        correlation_id=envelope["correlation_id"],
        **content,
    )


def request_email_verification(session: Session, envelope: dict, texts: NoticeTexts) -> list[str]:
    payload = envelope["payload"]
    language = texts.resolve_language(payload.get("language"))
    content = email_fields(texts, ledger.EMAIL_VERIFICATION, language, {"verification_url": payload["verification_url"]})
    delivery_id = ledger.add_delivery(
        session,
        event_id=str(envelope["event_id"]),
        recipient=str(payload["account_id"]),
        channel=ledger.EMAIL,
        kind=ledger.EMAIL_VERIFICATION,
        address=payload["email"],
        language=language,
        correlation_id=envelope["correlation_id"],
        **content,
    )
    return [delivery_id]
