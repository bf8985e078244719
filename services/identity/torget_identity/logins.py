"""BankID orders: start, poll (status, user message and animated QR code), cancel.

The client polls every second or two. The service collects from BankID at
most every ``bankid_collect_interval`` seconds per order (BankID asks for
every two seconds) and answers the polls between collects from the stored
status, each with a fresh QR code.
"""

import logging
from datetime import timedelta

from sqlalchemy import delete, insert, select, update

from torget_identity.bankid import BankIdError, BankIdUnavailable, qr_data, user_message
from torget_identity.bankid.messages import rfa_code
from torget_identity.errors import Conflict, IdentityError, InvalidRequest, NotFound, Unavailable
from torget_identity.models import bankid_orders
from torget_identity.ports import Ports
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

PENDING = "pending"
COMPLETE = "complete"
FAILED = "failed"
CANCELLED = "cancelled"

# Orders are kept this long after they started, then deleted with whatever
# identity they hold; BankID itself forgets an order within minutes.
ORDER_RETENTION = timedelta(hours=1)


def bankid_error(exc: Exception, language: str) -> IdentityError:
    """Return the IdentityError to raise for a failed BankID call."""
    if isinstance(exc, BankIdUnavailable):
        rfa = "RFA5"
        return Unavailable("bankid_unavailable", rfa=rfa, message=user_message(rfa, language))
    if isinstance(exc, BankIdError) and exc.error_code == "alreadyInProgress":
        rfa = rfa_code(error_code=exc.error_code)
        return Conflict("bankid_already_in_progress", rfa=rfa, message=user_message(rfa, language))
    rfa = rfa_code(error_code=getattr(exc, "error_code", None))
    return Unavailable("bankid_failed", rfa=rfa, message=user_message(rfa, language))


def start_login(ports: Ports, end_user_ip: str, language: str = "sv") -> dict:
    """Start a BankID order for whoever identifies in the app; return what the client shows.

    Returns ``order_ref``, ``auto_start_token`` (for the BankID app on the
    same device) and the first ``qr_data``.
    """
    if not end_user_ip:
        raise InvalidRequest("end_user_ip_missing")
    try:
        order = ports.bankid.auth(end_user_ip)
    except (BankIdError, BankIdUnavailable) as exc:
        raise bankid_error(exc, language) from exc

    with ports.db.transaction() as session:
        session.execute(delete(bankid_orders).where(bankid_orders.c.started_at < utcnow() - ORDER_RETENTION))
        session.execute(
            insert(bankid_orders).values(
                order_ref=order["orderRef"],
                qr_start_token=order["qrStartToken"],
                qr_start_secret_encrypted=ports.protector.encrypt("qr_start_secret", order["qrStartSecret"].encode()),
                started_at=utcnow(),
                status=PENDING,
                hint_code="outstandingTransaction",
            )
        )
    log.info("BankID order started", extra={"order_ref": order["orderRef"]})
    return {
        "order_ref": order["orderRef"],
        "auto_start_token": order["autoStartToken"],
        "qr_data": qr_data(order["qrStartToken"], order["qrStartSecret"], 0),
        "status": PENDING,
    }


def _order(session, order_ref: str, lock: bool = False):
    query = select(bankid_orders).where(bankid_orders.c.order_ref == str(order_ref))
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("bankid_order_not_found")
    return row


def _collect(ports: Ports, order_ref: str) -> None:
    """Collect the order from BankID and store its status; a completed order keeps the user's identity."""
    try:
        result = ports.bankid.collect(order_ref)
    except BankIdError as exc:
        # BankID forgets an order once it was cancelled (invalidParameters: No such order).
        log.info("BankID collect of an order failed with %s", exc.error_code, extra={"order_ref": order_ref})
        values = {"status": CANCELLED, "hint_code": "cancelled"} if exc.http_status == 400 else {}
        if not values:
            raise
        result = None
    else:
        values = {"status": result["status"], "hint_code": result.get("hintCode")}
        if result["status"] == COMPLETE:
            user = result["completionData"]["user"]
            values.update(
                personal_number_encrypted=ports.protector.encrypt_personal_number(user["personalNumber"]),
                given_name=user.get("givenName") or "",
                surname=user.get("surname") or "",
                completed_at=utcnow(),
                hint_code=None,
            )

    values["last_collected_at"] = utcnow()
    with ports.db.transaction() as session:
        session.execute(
            update(bankid_orders)
            .where(bankid_orders.c.order_ref == order_ref, bankid_orders.c.status == PENDING)
            .values(**values)
        )
    if result is not None and result["status"] != PENDING:
        log.info("BankID order %s", result["status"], extra={"order_ref": order_ref, "hint_code": result.get("hintCode")})


def refresh_order(ports: Ports, order_ref: str, language: str = "sv", force: bool = False):
    """Collect the order when it is pending and due (or ``force``), and return its stored row."""
    with ports.db.transaction() as session:
        row = _order(session, order_ref)

    due = force or row.last_collected_at is None or (
        (utcnow() - row.last_collected_at).total_seconds() >= ports.settings.bankid_collect_interval
    )
    if row.status == PENDING and due:
        try:
            _collect(ports, row.order_ref)
        except (BankIdError, BankIdUnavailable) as exc:
            raise bankid_error(exc, language) from exc
        with ports.db.transaction() as session:
            row = _order(session, order_ref)
    return row


def poll_login(ports: Ports, order_ref: str, language: str = "sv", qr: bool = True) -> dict:
    """Return the order's status, hint code, user message and, while pending, the current QR code."""
    row = refresh_order(ports, order_ref, language)
    status = FAILED if row.status == CANCELLED else row.status
    answer = {"order_ref": row.order_ref, "status": status, "hint_code": row.hint_code}

    if status == COMPLETE:
        answer["message"] = None
        return answer

    rfa = rfa_code(status=status, hint_code=row.hint_code, qr=qr)
    answer.update(rfa=rfa, message=user_message(rfa, language))
    if status == PENDING:
        secret = ports.protector.decrypt("qr_start_secret", row.qr_start_secret_encrypted).decode()
        seconds = int((utcnow() - row.started_at).total_seconds())
        answer["qr_data"] = qr_data(row.qr_start_token, secret, seconds)
    return answer


def cancel_login(ports: Ports, order_ref: str, language: str = "sv") -> dict:
    with ports.db.transaction() as session:
        row = _order(session, order_ref)
    if row.status == PENDING:
        try:
            ports.bankid.cancel(row.order_ref)
        except BankIdError as exc:
            # The order ended at BankID in the meantime; record it as cancelled all the same.
            log.info("BankID cancel failed with %s", exc.error_code, extra={"order_ref": row.order_ref})
        except BankIdUnavailable as exc:
            raise bankid_error(exc, language) from exc
    with ports.db.transaction() as session:
        session.execute(
            update(bankid_orders)
            .where(bankid_orders.c.order_ref == row.order_ref, bankid_orders.c.status == PENDING)
            .values(status=CANCELLED, hint_code="cancelled", last_collected_at=utcnow())
        )
    log.info("BankID order cancelled by the user", extra={"order_ref": row.order_ref})
    return {"order_ref": row.order_ref, "status": CANCELLED}


def completed_identity(ports: Ports, order_ref: str, language: str = "sv") -> dict:
    """Return the identity of a completed, unused order: personal number and names.

    Raises bankid_order_pending, bankid_order_failed or bankid_order_used.
    """
    row = refresh_order(ports, order_ref, language, force=True)
    if row.status == PENDING:
        rfa = rfa_code(status=PENDING, hint_code=row.hint_code)
        raise Conflict("bankid_order_pending", rfa=rfa, message=user_message(rfa, language))
    if row.status in (FAILED, CANCELLED):
        rfa = rfa_code(status=FAILED, hint_code=row.hint_code)
        raise Conflict("bankid_order_failed", hint_code=row.hint_code, rfa=rfa, message=user_message(rfa, language))
    if row.consumed_at is not None:
        raise Conflict("bankid_order_used")
    return {
        "order_ref": row.order_ref,
        "personal_number": ports.protector.decrypt_personal_number(row.personal_number_encrypted),
        "given_name": row.given_name,
        "family_name": row.surname,
    }


def consume_order(session, order_ref: str) -> None:
    """Mark a completed order used inside the caller's transaction; raise bankid_order_used when it already was."""
    used = session.execute(
        update(bankid_orders)
        .where(
            bankid_orders.c.order_ref == order_ref,
            bankid_orders.c.status == COMPLETE,
            bankid_orders.c.consumed_at.is_(None),
        )
        # The personal identity number stays only with the account from here on.
        .values(consumed_at=utcnow(), personal_number_encrypted=None)
    ).rowcount
    if used != 1:
        raise Conflict("bankid_order_used")
