"""Delivery failures: the provider failing, timing out or responding late, SMTP rejecting, the broker dropping."""

import time

from torget_messaging.testing import (
    GuardianSpec,
    absence_payload,
    deliveries,
    publish,
    set_sink_behaviour,
    set_up_household,
    sms_recipients,
    smtp_recipients,
)
from torget_shared.testing.probe import wait_for

MOBILE_1 = "+46701234567"
MOBILE_2 = "+46707654321"


def household_of_two(amqp_uri, database_url):
    return set_up_household(
        amqp_uri,
        database_url,
        [
            GuardianSpec("Karin", language="sv", mobile=MOBILE_1, email="karin@example.se"),
            GuardianSpec("Omar", language="ar", mobile=MOBILE_2, email="omar@example.se"),
        ],
    )


def states(database_url, channel):
    return sorted(row["state"] for row in deliveries(database_url) if row["channel"] == channel)


def test_sms_api_500_is_retried(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = household_of_two(amqp_uri, service.database_url)
    set_sink_behaviour(sms_sink, "fail", count=2)

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: states(service.database_url, "sms") == ["sent", "sent"])
    assert sms_recipients(sms_sink) == [MOBILE_1, MOBILE_2]
    assert len(smtp_server.messages) == 2


def test_sms_api_timeout_without_message_is_resent_once(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = household_of_two(amqp_uri, service.database_url)
    # Longer than SMS_TIMEOUT (1 s): the provider never creates the message.
    set_sink_behaviour(sms_sink, "timeout", count=1, delay=1.5)

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: states(service.database_url, "sms") == ["sent", "sent"], timeout=15)
    assert sms_recipients(sms_sink) == [MOBILE_1, MOBILE_2]
    attempts = sorted(row["attempts"] for row in deliveries(service.database_url) if row["channel"] == "sms")
    assert attempts == [1, 2]


def test_sms_answered_after_timeout_is_reconciled_not_resent(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = household_of_two(amqp_uri, service.database_url)
    # The provider creates the message, then responds after the client gave up.
    set_sink_behaviour(sms_sink, "late", count=1, delay=1.5)

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: states(service.database_url, "sms") == ["sent", "sent"], timeout=15)
    time.sleep(1.0)
    assert sms_recipients(sms_sink) == [MOBILE_1, MOBILE_2]
    rows = [row for row in deliveries(service.database_url) if row["channel"] == "sms"]
    assert sorted(row["attempts"] for row in rows) == [1, 1]
    sink_ids = {message["id"] for message in sms_sink.messages}
    assert {row["provider_message_id"] for row in rows} == sink_ids


def test_sms_failing_every_attempt_is_recorded_for_staff(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(amqp_uri, service.database_url, [GuardianSpec("Karin", mobile=MOBILE_1, email=None)])
    set_sink_behaviour(sms_sink, "fail")

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: states(service.database_url, "sms") == ["failed"], timeout=15)
    [row] = [row for row in deliveries(service.database_url) if row["channel"] == "sms"]
    assert row["attempts"] == 3
    assert "500" in row["last_error"]
    assert sms_sink.messages == []

    failed = staff_call(rabbit_config, "list_failed_notifications", household.unit_id)
    assert [entry["channel"] for entry in failed] == ["sms"]
    assert failed[0]["guardian_name"] == "Karin Lind"
    assert "500" in failed[0]["reason"]
    assert wait_for(lambda: outbox_types(service.database_url).count("notification_failed") == 1)


def test_sms_rejected_by_provider_fails_at_once(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = set_up_household(amqp_uri, service.database_url, [GuardianSpec("Karin", mobile=MOBILE_1, email=None)])
    set_sink_behaviour(sms_sink, "reject", count=1)

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: states(service.database_url, "sms") == ["failed"])
    [row] = [row for row in deliveries(service.database_url) if row["channel"] == "sms"]
    assert row["attempts"] == 1


def test_smtp_refusing_recipient_fails_only_that_email(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = household_of_two(amqp_uri, service.database_url)
    smtp_server.rejected_recipients.add("omar@example.se")

    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: states(service.database_url, "email") == ["failed", "sent"])
    assert smtp_recipients(smtp_server) == ["karin@example.se"]
    [failed] = [row for row in deliveries(service.database_url) if row["state"] == "failed"]
    assert failed["address"] == "omar@example.se"
    assert "550" in failed["last_error"]
    assert failed["attempts"] == 1
    assert len(sms_sink.messages) == 2


def test_broker_connection_dropped_consumer_reconnects(start_messaging, rabbit_config, rabbit_admin, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    household = household_of_two(amqp_uri, service.database_url)

    # The management API lists a connection a few seconds after it opened.
    connections = wait_for(lambda: rabbit_admin.connections(rabbit_config["vhost"]), timeout=20)
    for connection in connections:
        rabbit_admin.close_connection(connection["name"])

    # The consumer reconnects by itself; the event lands in its durable queue meanwhile.
    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))

    wait_for(lambda: len(sms_sink.messages) == 2 and len(smtp_server.messages) == 2, timeout=30)
    time.sleep(1.0)
    assert sms_recipients(sms_sink) == [MOBILE_1, MOBILE_2]
    assert smtp_recipients(smtp_server) == ["karin@example.se", "omar@example.se"]


def test_email_verification_goes_through_ledger(start_messaging, rabbit_config, sms_sink, smtp_server):
    service = start_messaging()
    amqp_uri = rabbit_config["AMQP_URI"]
    payload = {
        "account_id": "account-1",
        "email": "new@example.se",
        "language": "ar",
        "verification_url": "https://torget.test/verify?token=abc",
        "expires_at": "2026-12-05T20:00:00+00:00",
    }

    envelope = publish(amqp_uri, "identity", "email_verification_requested", payload)
    publish(amqp_uri, "identity", "email_verification_requested", {}, envelope=envelope)

    wait_for(lambda: len(smtp_server.messages) == 1)
    time.sleep(0.5)
    [message] = smtp_server.messages
    assert message["to"] == ["new@example.se"]
    html = message["message"].get_body(("html",)).get_content()
    assert "https://torget.test/verify?token=abc" in html
    assert 'dir="rtl"' in html
    [row] = deliveries(service.database_url)
    assert row["kind"] == "email_verification"
    assert row["state"] == "sent"


def staff_call(rabbit_config, method, *args):
    """Call the service as an internal service would, which the duty check lets through."""
    from nameko.standalone.rpc import ServiceRpcProxy

    from torget_shared.caller import CALLER_KEY, Caller

    context = {CALLER_KEY: Caller.for_service("tests").to_context()}
    with ServiceRpcProxy("messaging", {"AMQP_URI": rabbit_config["AMQP_URI"]}, context_data=context, timeout=10) as proxy:
        return getattr(proxy, method)(*args)


def outbox_types(database_url):
    import sqlalchemy as sa

    from torget_shared.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text("SELECT event_type FROM outbox")).scalars())
    finally:
        engine.dispose()
