"""Helpers and test data of the identity tests: the BankID test server, logins, errors, events."""

import base64
import secrets
import threading
import time

import pytest
import requests
from kombu import Connection, Exchange, Queue
from nameko.exceptions import RemoteError

from torget_identity.bankid_test_server import make_server
from torget_identity.errors import parse_remote_error

GUARDIAN_NUMBER = "198507099805"
GUARDIAN_PERSON = "person-guardian-1"
CHILD_PERSON = "person-child-1"
STAFF_NUMBER = "197802022389"
STAFF_PERSON = "person-staff-1"
ADMIN_NUMBER = "196903035551"
ADMIN_PERSON = "person-admin-1"
UNIT = "unit-ekbacken"
OTHER_UNIT = "unit-solrosen"
STRANGER_NUMBER = "199001019802"
PASSWORD_GUARDIAN_PERSON = "person-guardian-2"


class BankIdTestServer:
    """The test server on a free port, with helpers that play the user in the BankID app."""

    def __init__(self, order_lifetime: float = 180.0):
        self.server = make_server("127.0.0.1", 0, order_lifetime)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.url = f"{self.base}/rp/v6.0"

    def control(self, order_ref: str, action: str, **body) -> requests.Response:
        return requests.post(f"{self.base}/control/v1/orders/{order_ref}/{action}", json=body, timeout=5)

    def complete(self, order_ref: str, personal_number: str, given_name="Anna", surname="Andersson") -> None:
        response = self.control(order_ref, "complete", personalNumber=personal_number, givenName=given_name, surname=surname)
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def identity_config(bankid_url: str, **overrides) -> dict:
    return {
        "BANKID_URL": bankid_url,
        "BANKID_COLLECT_INTERVAL": 0.05,
        "IDENTITY_DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "IDENTITY_LOOKUP_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TORGET_PUBLIC_URL": "https://torget.example.se",
        **overrides,
    }


def account_caller(tokens: dict, **extra) -> dict:
    """Return the caller the gateway would pass for ``tokens`` from a login."""
    return {
        "kind": "account",
        "account_id": tokens["account_id"],
        "roles": tokens["roles"],
        "assurance": tokens["assurance"],
        **extra,
    }


def identity_error(excinfo) -> dict:
    """Return {"code", "status", "params"} of a RemoteError raised by identity."""
    assert isinstance(excinfo.value, RemoteError), excinfo.value
    data = parse_remote_error(excinfo.value.value)
    assert data is not None, excinfo.value.value
    return data


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def bankid_login(identity, bankid_server: BankIdTestServer, personal_number: str, *, apply: bool = True) -> dict:
    """Run a whole BankID login: start, the user identifies, poll, then apply or complete."""
    order = identity.start_bankid_login("127.0.0.1")
    bankid_server.complete(order["order_ref"], personal_number)
    wait_until(lambda: identity.poll_bankid_login(order["order_ref"])["status"] == "complete")
    if apply:
        return identity.apply_for_account(order["order_ref"])
    return identity.complete_bankid_login(order["order_ref"])


class EventTap:
    """A queue bound to every event identity publishes, read by the test."""

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri)
        channel = self.connection.default_channel
        exchange = Exchange("identity.events", type="topic", durable=True)
        exchange(channel).declare()
        self.queue = Queue("test-identity-events", exchange=exchange, routing_key="#", exclusive=True)(channel)
        self.queue.declare()
        self.seen: list[dict] = []

    def events(self, event_type: str) -> list[dict]:
        while (message := self.queue.get(no_ack=True)) is not None:
            self.seen.append(message.payload)
        return [event for event in self.seen if event["event_type"] == event_type]

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        return wait_until(lambda: len(self.events(event_type)) >= count and self.events(event_type), timeout)

    def close(self) -> None:
        self.connection.release()
