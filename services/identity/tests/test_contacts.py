"""Mobile numbers, e-mail verification links, notice preferences and the recent-login rule."""

import dataclasses
import time

import pytest
import sqlalchemy as sa

from identity_testing import GUARDIAN_NUMBER
from torget_identity import accounts, contacts, logins
from torget_identity.contacts import normalize_mobile
from torget_identity.errors import IdentityError
from torget_identity.settings import IdentitySettings
from torget_shared.outbox import outbox_table

SETTINGS = IdentitySettings(data_key=b"k" * 32, lookup_key=b"l" * 32)


def raised(call, *args, **kwargs) -> IdentityError:
    with pytest.raises(IdentityError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def login(ports, bankid_server) -> dict:
    order = logins.start_login(ports, "192.0.2.10")
    bankid_server.complete(order["order_ref"], GUARDIAN_NUMBER)
    return accounts.login_with_bankid(ports, order["order_ref"], apply=True)


def outbox_events(ports, event_type: str) -> list[dict]:
    with ports.db.transaction() as session:
        rows = session.execute(sa.select(outbox_table.c.envelope).where(outbox_table.c.event_type == event_type))
        return [row.envelope["payload"] for row in rows]


def verification_token(ports) -> str:
    url = outbox_events(ports, "email_verification_requested")[-1]["verification_url"]
    return url.split("token=", 1)[1]


def test_swedish_mobile_forms_normalized():
    for typed in ["070-123 45 67", "+46 070 123 45 67", "0701234567", "+46701234567", "0046 70 123 45 67"]:
        assert normalize_mobile(typed, SETTINGS) == "+46701234567", typed


def test_bad_mobile_numbers_rejected():
    cases = {
        "12345": "mobile_invalid",
        "not a number": "mobile_invalid",
        "": "mobile_invalid",
        "08-123 456 78": "mobile_not_mobile",
        "+47 412 34 567": "mobile_region_not_accepted",
        "+1 202 555 0143": "mobile_region_not_accepted",
    }
    for typed, code in cases.items():
        error = raised(normalize_mobile, typed, SETTINGS)
        assert error.code == code, typed
        assert error.status == 422, typed


def test_foreign_mobile_allowed_by_setting():
    settings = dataclasses.replace(SETTINGS, sms_regions=("SE", "NO"))

    assert normalize_mobile("+47 412 34 567", settings) == "+4741234567"


def test_email_link_works_once(ports, bankid_server):
    tokens = login(ports, bankid_server)
    contacts.request_email_verification(
        ports, account_id=tokens["account_id"], session_id=tokens["session_id"], email="anna@example.se"
    )
    token = verification_token(ports)

    assert contacts.verify_email(ports, token)["email"] == "anna@example.se"
    assert raised(contacts.verify_email, ports, token).code == "verification_token_used"
    assert raised(contacts.verify_email, ports, "made-up").code == "verification_token_invalid"
    changed = outbox_events(ports, "contact_details_changed")
    assert changed[-1]["email"] == "anna@example.se"


def test_expired_email_link_rejected(ports, bankid_server):
    ports.settings = dataclasses.replace(ports.settings, email_verification_ttl=0.1)
    tokens = login(ports, bankid_server)
    contacts.request_email_verification(
        ports, account_id=tokens["account_id"], session_id=tokens["session_id"], email="anna@example.se"
    )
    time.sleep(0.2)

    error = raised(contacts.verify_email, ports, verification_token(ports))

    assert error.code == "verification_token_expired"
    assert error.status == 410
    assert outbox_events(ports, "contact_details_changed") == []


def test_invalid_email_rejected(ports, bankid_server):
    tokens = login(ports, bankid_server)

    error = raised(
        contacts.request_email_verification,
        ports,
        account_id=tokens["account_id"],
        session_id=tokens["session_id"],
        email="anna.example.se",
    )

    assert error.code == "email_invalid"
    assert outbox_events(ports, "email_verification_requested") == []


def test_change_needs_recent_login(ports, bankid_server):
    ports.settings = dataclasses.replace(ports.settings, recent_login=0.1)
    tokens = login(ports, bankid_server)
    time.sleep(0.2)

    mobile = raised(contacts.set_mobile, ports, account_id=tokens["account_id"], session_id=tokens["session_id"], mobile="0701234567")
    email = raised(
        contacts.request_email_verification,
        ports,
        account_id=tokens["account_id"],
        session_id=tokens["session_id"],
        email="anna@example.se",
    )
    without_session = raised(contacts.set_mobile, ports, account_id=tokens["account_id"], session_id=None, mobile="0701234567")

    assert mobile.code == "recent_login_required"
    assert mobile.status == 401
    assert email.code == "recent_login_required"
    assert without_session.code == "session_ended"


def test_preferences_and_language(ports, bankid_server):
    tokens = login(ports, bankid_server)
    account_id = tokens["account_id"]

    no_mobile = raised(contacts.set_preferences, ports, account_id=account_id, sms=True)
    contacts.set_mobile(ports, account_id=account_id, session_id=tokens["session_id"], mobile="070-123 45 67")
    details = contacts.set_preferences(ports, account_id=account_id, language="ar", sms=False, email=True)
    unknown_language = raised(contacts.set_preferences, ports, account_id=account_id, language="xx")
    removed = contacts.set_mobile(ports, account_id=account_id, session_id=tokens["session_id"], mobile=None)

    assert no_mobile.code == "sms_needs_mobile"
    assert details == {"email": None, "mobile": "+46701234567", "language": "ar", "preferences": {"sms": False, "email": True}}
    assert unknown_language.code == "language_not_offered"
    assert removed["mobile"] is None
    assert outbox_events(ports, "contact_details_changed")[-1]["language"] == "ar"
