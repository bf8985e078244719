"""Absence notices end to end: real RabbitMQ, PostgreSQL, an SMTP server and the SMS sink."""

from torget_messaging.testing import (
    GuardianSpec,
    absence_payload,
    deliveries,
    publish,
    set_up_household,
    sms_recipients,
    smtp_recipients,
)
from torget_shared.testing.probe import wait_for

MOBILE_SV = "+46701234567"
MOBILE_AR = "+46707654321"


def two_language_household(amqp_uri, database_url):
    return set_up_household(
        amqp_uri,
        database_url,
        [
            GuardianSpec("Karin", language="sv", mobile=MOBILE_SV, email="karin@example.se"),
            GuardianSpec("Omar", language="ar", mobile=MOBILE_AR, email="omar@example.se"),
        ],
    )


def test_two_guardians_get_two_sms_and_two_emails(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = two_language_household(amqp_uri, service.database_url)

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: len(sms_sink.messages) == 2 and len(smtp_server.messages) == 2)
    assert sms_recipients(sms_sink) == [MOBILE_SV, MOBILE_AR]
    assert smtp_recipients(smtp_server) == ["karin@example.se", "omar@example.se"]

    by_number = {message["to"]: message for message in sms_sink.messages}
    assert "Åsa Lind var frånvarande från Matematik 08:15-09:00" in by_number[MOBILE_SV]["message"]
    assert by_number[MOBILE_SV]["encoding"] == "gsm7"
    assert "تغيب" in by_number[MOBILE_AR]["message"]
    assert by_number[MOBILE_AR]["encoding"] == "ucs2"

    emails = {message["to"][0]: message["message"] for message in smtp_server.messages}
    assert emails["karin@example.se"]["Subject"] == "Frånvaro registrerad"
    arabic_html = emails["omar@example.se"].get_body(("html",)).get_content()
    assert 'dir="rtl"' in arabic_html
    assert 'lang="ar"' in arabic_html

    wait_for(lambda: [row["state"] for row in deliveries(service.database_url)] == ["sent"] * 4)
    sms_rows = [row for row in deliveries(service.database_url) if row["channel"] == "sms"]
    assert {row["sms_encoding"] for row in sms_rows} == {"gsm7", "ucs2"}
    assert all(row["sms_segments"] >= 1 for row in sms_rows)


def test_redelivered_event_sends_nothing_twice(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = two_language_household(amqp_uri, service.database_url)
    envelope = publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))
    wait_for(lambda: len(sms_sink.messages) == 2 and len(smtp_server.messages) == 2)

    publish(amqp_uri, "attendance", "absence_registered", {}, envelope=envelope)
    publish(amqp_uri, "attendance", "absence_registered", {}, envelope=envelope)

    import time

    time.sleep(1.5)
    assert len(sms_sink.messages) == 2
    assert len(smtp_server.messages) == 2
    assert len(deliveries(service.database_url)) == 4


def test_guardian_without_mobile_gets_email_only(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(
        amqp_uri,
        service.database_url,
        [
            GuardianSpec("Karin", mobile=None, email="karin@example.se"),
            GuardianSpec("Nils", mobile=MOBILE_SV, sms=False, email="nils@example.se"),
        ],
    )

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: len(smtp_server.messages) == 2)
    rows = wait_for(lambda: [row for row in deliveries(service.database_url) if row["channel"] == "sms"] or None)
    assert len(sms_sink.messages) == 0
    assert sorted(row["last_error"] for row in rows) == [
        "the guardian has no mobile number",
        "the guardian turned absence notices by SMS off",
    ]
    assert {row["state"] for row in rows} == {"skipped"}


def test_protected_child_named_by_given_name_only(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(
        amqp_uri,
        service.database_url,
        [GuardianSpec("Karin", mobile=MOBILE_SV, email="karin@example.se")],
        child_protected=True,
        child_name=("Elin", "Berg"),
    )

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: len(sms_sink.messages) == 1 and len(smtp_server.messages) == 1)
    [sms] = sms_sink.messages
    assert "Elin" in sms["message"]
    assert "Berg" not in sms["message"]
    [email] = smtp_server.messages
    assert "Berg" not in email["message"].get_body(("plain",)).get_content()


def test_late_arrival_notice_in_english(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(
        amqp_uri, service.database_url, [GuardianSpec("Anna", language="en-GB", mobile=MOBILE_SV, email=None)]
    )

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household, kind="late", late_minutes=12))

    wait_for(lambda: len(sms_sink.messages) == 1)
    assert sms_sink.messages[0]["message"].startswith("Torget: Åsa Lind was 12 minutes late for Matematik 08:15-09:00")


def test_withdrawal_sends_correction_for_sent_notice(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(amqp_uri, service.database_url, [GuardianSpec("Karin", mobile=MOBILE_SV, email="karin@example.se")])
    payload = absence_payload(household)
    publish(amqp_uri, "attendance", "absence_registered", payload)
    wait_for(lambda: len(sms_sink.messages) == 1 and len(smtp_server.messages) == 1)

    withdrawal = {key: payload[key] for key in ("registration_id", "child_person_id", "unit_id", "lesson_id", "local_date")}
    publish(amqp_uri, "attendance", "absence_registration_withdrawn", withdrawal)

    wait_for(lambda: len(sms_sink.messages) == 2 and len(smtp_server.messages) == 2)
    assert "Rättelse" in sms_sink.messages[1]["message"]
    assert smtp_server.messages[1]["message"]["Subject"].startswith("Rättelse")


def test_withdrawal_before_registration_sends_nothing(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(amqp_uri, service.database_url, [GuardianSpec("Karin", mobile=MOBILE_SV, email="karin@example.se")])
    payload = absence_payload(household)
    withdrawal = {key: payload[key] for key in ("registration_id", "child_person_id", "unit_id", "lesson_id", "local_date")}

    publish(amqp_uri, "attendance", "absence_registration_withdrawn", withdrawal)
    wait_for(lambda: True)
    import time

    time.sleep(0.5)
    publish(amqp_uri, "attendance", "absence_registered", payload)
    time.sleep(1.5)

    assert sms_sink.messages == []
    assert smtp_server.messages == []


def call_as(rabbit_config, caller, method, *args):
    from nameko.standalone.rpc import ServiceRpcProxy

    from torget_shared.caller import CALLER_KEY

    context = {CALLER_KEY: caller.to_context()}
    with ServiceRpcProxy("messaging", {"AMQP_URI": rabbit_config["AMQP_URI"]}, context_data=context, timeout=10) as proxy:
        return getattr(proxy, method)(*args)


def test_guardian_acknowledges_and_staff_see_it(start_messaging, rabbit_config, sms_sink, smtp_server):
    import pytest
    from nameko.exceptions import RemoteError

    from torget_shared.caller import Caller

    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(
        amqp_uri,
        service.database_url,
        [
            GuardianSpec("Karin", mobile=MOBILE_SV, email="karin@example.se"),
            GuardianSpec("Dolda", mobile=MOBILE_AR, email=None, protected=True),
        ],
    )
    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))
    wait_for(lambda: len(sms_sink.messages) == 2)
    karin, hidden = household.guardians
    as_karin = Caller(kind="account", account_id="a-1", person_id=karin.person_id, roles=("guardian",))
    stranger = Caller(kind="account", account_id="a-2", person_id="someone-else", roles=("guardian",))

    [notice] = call_as(rabbit_config, as_karin, "list_my_notices")
    assert notice["acknowledged_at"] is None
    acknowledged = call_as(rabbit_config, as_karin, "acknowledge_notice", notice["notice_id"])
    again = call_as(rabbit_config, as_karin, "acknowledge_notice", notice["notice_id"])
    assert again["acknowledged_at"] == acknowledged["acknowledged_at"]
    with pytest.raises(RemoteError, match="NotFound"):
        call_as(rabbit_config, stranger, "acknowledge_notice", notice["notice_id"])

    [unit_notice] = call_as(rabbit_config, Caller.for_service("tests"), "list_unit_notices", household.unit_id)
    guardians = {entry["guardian_person_id"]: entry for entry in unit_notice["guardians"]}
    assert guardians[karin.person_id]["acknowledged_at"] == acknowledged["acknowledged_at"]
    assert guardians[karin.person_id]["name"] == "Karin Lind"
    assert guardians[hidden.person_id]["acknowledged_at"] is None
    assert guardians[hidden.person_id]["name"] is None
    assert "+46" not in str(unit_notice)
