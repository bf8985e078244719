"""A guardian applies with BankID, registers contact details, refreshes and logs out."""

import threading
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError

from identity_testing import (
    CHILD_PERSON,
    GUARDIAN_NUMBER,
    GUARDIAN_PERSON,
    STAFF_NUMBER,
    STRANGER_NUMBER,
    account_caller,
    bankid_login,
    identity_error,
)
from torget_shared.db import make_engine


def table_rows(database_url: str, query: str) -> list[dict]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(sa.text(query))]
    engine.dispose()
    return rows


def test_guardian_applies_and_manages_contacts(identity, bankid_server, as_caller, event_tap):
    tokens = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)

    assert tokens["account_created"] is True
    assert tokens["roles"] == ["guardian"]
    assert tokens["assurance"] == "bankid"
    created = event_tap.wait_for("account_created")[0]["payload"]
    assert created["person_id"] == GUARDIAN_PERSON
    assert GUARDIAN_NUMBER not in str(created)

    guardian = as_caller(account_caller(tokens), session_id=tokens["session_id"])
    requested = guardian.request_email_verification("Anna.Andersson@Example.SE")
    assert requested["pending_email"] == "Anna.Andersson@example.se"

    event = event_tap.wait_for("email_verification_requested")[0]["payload"]
    assert event["email"] == "Anna.Andersson@example.se"
    assert event["account_id"] == tokens["account_id"]
    assert event["language"] == "sv"
    assert event["verification_url"].startswith("https://torget.example.se/verify-email?token=")
    assert GUARDIAN_NUMBER not in str(event)
    token = parse_qs(urlparse(event["verification_url"]).query)["token"][0]

    verified = identity.verify_email(token)
    assert verified["email"] == "Anna.Andersson@example.se"
    with pytest.raises(RemoteError) as second_use:
        identity.verify_email(token)
    assert identity_error(second_use)["code"] == "verification_token_used"
    assert identity_error(second_use)["status"] == 409

    details = guardian.set_mobile("070-123 45 67")
    assert details["mobile"] == "+46701234567"
    assert details["preferences"] == {"sms": True, "email": True}

    changes = event_tap.wait_for("contact_details_changed", count=2)
    latest = changes[-1]["payload"]
    assert latest["mobile"] == "+46701234567"
    assert latest["email"] == "Anna.Andersson@example.se"
    assert latest["person_id"] == GUARDIAN_PERSON
    assert latest["preferences"] == {"sms": True, "email": True}

    me = guardian.me()
    assert me["email"] == "Anna.Andersson@example.se"
    assert me["mobile"] == "+46701234567"

    refreshed = identity.refresh(tokens["refresh_token"])
    assert refreshed["session_id"] == tokens["session_id"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]

    assert identity.logout(refreshed["refresh_token"])["logged_out"] is True
    with pytest.raises(RemoteError) as after_logout:
        identity.refresh(refreshed["refresh_token"])
    assert identity_error(after_logout)["code"] == "session_ended"


def test_second_apply_keeps_the_account(identity, bankid_server):
    first = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    again = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    login = bankid_login(identity, bankid_server, GUARDIAN_NUMBER, apply=False)

    assert again["account_created"] is False
    assert again["account_id"] == first["account_id"]
    assert login["account_id"] == first["account_id"]


def test_concurrent_applies_make_one_account(identity, bankid_server, rabbit_config):
    from nameko.standalone.rpc import ServiceRpcProxy

    orders = [identity.start_bankid_login("127.0.0.1") for _ in range(2)]
    bankid_server.complete(orders[0]["order_ref"], GUARDIAN_NUMBER)
    bankid_server.complete(orders[1]["order_ref"], GUARDIAN_NUMBER)

    results = []

    def apply(order_ref):
        with ServiceRpcProxy("identity", {"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=10) as proxy:
            results.append(proxy.apply_for_account(order_ref))

    threads = [threading.Thread(target=apply, args=(order["order_ref"],)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 2
    assert results[0]["account_id"] == results[1]["account_id"]
    assert sorted(result["account_created"] for result in results) == [False, True]
    accounts = table_rows(identity.database_url, "SELECT id FROM accounts")
    assert len(accounts) == 1


def test_stranger_rejected_nothing_created(identity, bankid_server):
    with pytest.raises(RemoteError) as refused:
        bankid_login(identity, bankid_server, STRANGER_NUMBER)

    error = identity_error(refused)
    assert error["code"] == "not_eligible"
    assert error["status"] == 403
    assert table_rows(identity.database_url, "SELECT id FROM accounts") == []
    assert table_rows(identity.database_url, "SELECT event_id FROM outbox") == []


def test_login_without_account_asks_to_apply(identity, bankid_server):
    order = identity.start_bankid_login("127.0.0.1")
    bankid_server.complete(order["order_ref"], GUARDIAN_NUMBER)

    with pytest.raises(RemoteError) as no_account:
        identity.complete_bankid_login(order["order_ref"])
    assert identity_error(no_account)["code"] == "no_account"

    # The order was not used up, so the person can apply with it.
    tokens = identity.apply_for_account(order["order_ref"])
    assert tokens["account_created"] is True
    with pytest.raises(RemoteError) as used:
        identity.apply_for_account(order["order_ref"])
    assert identity_error(used)["code"] == "bankid_order_used"


def test_roles_and_protected_storage(identity, bankid_server, directory):
    directory.add_person(GUARDIAN_NUMBER, GUARDIAN_PERSON, guardian_of=[CHILD_PERSON, "person-child-2"])

    guardian = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    staff = bankid_login(identity, bankid_server, STAFF_NUMBER)

    assert guardian["roles"] == ["guardian"]
    assert staff["roles"] == ["staff"]
    rows = table_rows(identity.database_url, "SELECT * FROM accounts")
    assert GUARDIAN_NUMBER not in str(rows)
    assert STAFF_NUMBER not in str(rows)
    assert all(len(row["personal_number_hash"]) == 64 for row in rows)
    orders = table_rows(identity.database_url, "SELECT * FROM bankid_orders")
    assert all(order["personal_number_encrypted"] is None for order in orders)
