"""The BankID client, test server, QR codes and user messages, and the login orders of identity.

These tests run the service layer on a real database and the real test
server, without a broker.
"""

import hashlib
import hmac
import subprocess
import sys
import time

import pytest
import requests

from identity_testing import GUARDIAN_NUMBER, STAFF_NUMBER, BankIdTestServer
from torget_identity import logins
from torget_identity.bankid import BankIdClient, BankIdError, BankIdUnavailable, qr_data, user_message
from torget_identity.bankid.messages import rfa_code
from torget_identity.errors import IdentityError


def raised(call, *args, **kwargs) -> IdentityError:
    with pytest.raises(IdentityError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def test_qr_data_matches_hmac():
    expected = hmac.new(b"secret", b"7", hashlib.sha256).hexdigest()

    assert qr_data("token", "secret", 7) == f"bankid.token.7.{expected}"
    assert qr_data("token", "secret", 0).startswith("bankid.token.0.")


def test_user_messages_follow_rfa_codes():
    cases = [
        ({"status": "pending", "hint_code": "outstandingTransaction"}, "RFA13"),
        ({"status": "pending", "hint_code": "outstandingTransaction", "qr": True}, "RFA1"),
        ({"status": "pending", "hint_code": "userSign"}, "RFA9"),
        ({"status": "pending", "hint_code": "somethingNew"}, "RFA21"),
        ({"status": "failed", "hint_code": "userCancel"}, "RFA6"),
        ({"status": "failed", "hint_code": "expiredTransaction"}, "RFA8"),
        ({"status": "failed", "hint_code": "cancelled"}, "RFA3"),
        ({"status": "failed", "hint_code": "certificateErr"}, "RFA16"),
        ({"status": "failed", "hint_code": "startFailed"}, "RFA17"),
        ({"status": "failed", "hint_code": "somethingNew"}, "RFA22"),
        ({"error_code": "alreadyInProgress"}, "RFA4"),
        ({"error_code": "maintenance"}, "RFA5"),
    ]
    for arguments, expected in cases:
        assert rfa_code(**arguments) == expected, arguments

    assert user_message("RFA6", "sv") == "Inloggningen avbröts."
    assert user_message("RFA6", "en") == "The login was cancelled."
    assert user_message("RFA6", "ar") == "Inloggningen avbröts."


def test_test_server_matches_v6_shapes(bankid_server):
    client = BankIdClient(bankid_server.url)

    order = client.auth("192.0.2.10")
    pending = client.collect(order["orderRef"])
    bankid_server.complete(order["orderRef"], GUARDIAN_NUMBER, "Anna", "Andersson")
    complete = client.collect(order["orderRef"])

    assert set(order) == {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"}
    assert pending == {"orderRef": order["orderRef"], "status": "pending", "hintCode": "outstandingTransaction"}
    assert complete["status"] == "complete"
    assert complete["completionData"]["user"] == {
        "personalNumber": GUARDIAN_NUMBER,
        "name": "Anna Andersson",
        "givenName": "Anna",
        "surname": "Andersson",
    }
    assert set(complete["completionData"]) >= {"device", "bankIdIssueDate", "signature", "ocspResponse"}


def test_test_server_error_responses(bankid_server):
    client = BankIdClient(bankid_server.url)

    invalid_ip = pytest.raises(BankIdError, client.auth, "not-an-ip").value
    unknown = pytest.raises(BankIdError, client.collect, "no-such-order").value
    wrong_type = requests.post(f"{bankid_server.url}/auth", data="x", headers={"Content-Type": "text/plain"}, timeout=5)

    assert (invalid_ip.http_status, invalid_ip.error_code) == (400, "invalidParameters")
    assert (unknown.http_status, unknown.error_code) == (400, "invalidParameters")
    assert wrong_type.status_code == 415
    assert wrong_type.json()["errorCode"] == "unsupportedMediaType"


def test_second_order_same_person_in_progress(bankid_server):
    client = BankIdClient(bankid_server.url)
    first = client.auth("192.0.2.10", requirement={"personalNumber": GUARDIAN_NUMBER})

    second = pytest.raises(BankIdError, client.auth, "192.0.2.10", requirement={"personalNumber": GUARDIAN_NUMBER}).value

    assert second.error_code == "alreadyInProgress"
    assert client.collect(first["orderRef"])["hintCode"] == "cancelled"


def test_unreachable_bankid_is_unavailable():
    client = BankIdClient("http://127.0.0.1:9/rp/v6.0", timeout=1)

    with pytest.raises(BankIdUnavailable):
        client.auth("192.0.2.10")


def test_login_poll_gives_fresh_qr(ports, bankid_server):
    order = logins.start_login(ports, "192.0.2.10")
    first = logins.poll_login(ports, order["order_ref"])
    time.sleep(1.05)
    later = logins.poll_login(ports, order["order_ref"], language="en")

    assert first["status"] == "pending"
    assert first["rfa"] == "RFA1"
    assert first["message"] == "Starta BankID-appen."
    assert later["message"] == "Start the BankID app."
    assert first["qr_data"] != later["qr_data"]
    assert int(later["qr_data"].split(".")[2]) >= 1
    assert order["auto_start_token"]


def test_second_login_cancels_first(ports, bankid_server):
    first = logins.start_login(ports, "192.0.2.10")
    second = logins.start_login(ports, "192.0.2.10")
    assert bankid_server.control(first["order_ref"], "user", personalNumber=GUARDIAN_NUMBER).status_code == 200
    assert bankid_server.control(second["order_ref"], "user", personalNumber=GUARDIAN_NUMBER).status_code == 200

    polled = logins.poll_login(ports, first["order_ref"])
    error = raised(logins.completed_identity, ports, first["order_ref"])

    assert polled["status"] == "failed"
    assert polled["hint_code"] == "cancelled"
    assert polled["rfa"] == "RFA3"
    assert error.code == "bankid_order_failed"
    assert error.status == 409
    assert error.params["message"] == "Inloggningen avbröts. Försök igen."


def test_already_in_progress_becomes_conflict(ports, bankid_server):
    client = ports.bankid
    client.auth("192.0.2.10", requirement={"personalNumber": STAFF_NUMBER})

    class NamingClient:
        """Starts orders for one person, as a relying party that sends a personal number would."""

        def auth(self, end_user_ip):
            return client.auth(end_user_ip, requirement={"personalNumber": STAFF_NUMBER})

    ports.bankid = NamingClient()
    error = raised(logins.start_login, ports, "192.0.2.10", "en")

    assert error.code == "bankid_already_in_progress"
    assert error.status == 409
    assert error.params["rfa"] == "RFA4"
    assert error.params["message"].startswith("A login or signing for this personal identity number")


def test_cancelled_order_cannot_complete(ports, bankid_server):
    order = logins.start_login(ports, "192.0.2.10")

    assert logins.cancel_login(ports, order["order_ref"])["status"] == "cancelled"
    # The user identifies in the app after the cancel; BankID has forgotten the order.
    assert bankid_server.control(order["order_ref"], "complete", personalNumber=GUARDIAN_NUMBER).status_code == 404
    error = raised(logins.completed_identity, ports, order["order_ref"])

    assert error.code == "bankid_order_failed"
    assert error.params["hint_code"] == "cancelled"


def test_expired_order_fails(ports):
    server = BankIdTestServer(order_lifetime=0.2)
    try:
        ports.bankid = BankIdClient(server.url)
        order = logins.start_login(ports, "192.0.2.10")
        time.sleep(0.3)

        polled = logins.poll_login(ports, order["order_ref"])
        error = raised(logins.completed_identity, ports, order["order_ref"])
    finally:
        server.stop()

    assert polled["status"] == "failed"
    assert polled["hint_code"] == "expiredTransaction"
    assert polled["rfa"] == "RFA8"
    assert error.code == "bankid_order_failed"


def test_user_cancel_in_app(ports, bankid_server):
    order = logins.start_login(ports, "192.0.2.10")
    bankid_server.control(order["order_ref"], "fail", hintCode="userCancel")

    polled = logins.poll_login(ports, order["order_ref"])

    assert polled["status"] == "failed"
    assert polled["rfa"] == "RFA6"


def test_pending_order_cannot_complete(ports):
    order = logins.start_login(ports, "192.0.2.10")

    error = raised(logins.completed_identity, ports, order["order_ref"])

    assert error.code == "bankid_order_pending"


def test_unknown_order_not_found(ports):
    error = raised(logins.poll_login, ports, "00000000-0000-0000-0000-000000000000")

    assert error.code == "bankid_order_not_found"
    assert error.status == 404


def test_console_script_serves(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "torget_identity.bankid_test_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        order = BankIdClient(f"http://127.0.0.1:{port}/rp/v6.0").auth("192.0.2.10")
        assert order["orderRef"]
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_old_orders_are_deleted(ports):
    import sqlalchemy as sa

    from torget_identity.models import bankid_orders

    old = logins.start_login(ports, "192.0.2.10")
    with ports.db.transaction() as session:
        session.execute(
            sa.update(bankid_orders)
            .where(bankid_orders.c.order_ref == old["order_ref"])
            .values(started_at=sa.func.now() - sa.text("interval '2 hours'"))
        )

    new = logins.start_login(ports, "192.0.2.10")

    with ports.db.transaction() as session:
        remaining = session.execute(sa.select(bankid_orders.c.order_ref)).scalars().all()
    assert remaining == [new["order_ref"]]
