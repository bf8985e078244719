"""A consumer killed with SIGKILL after the provider call and before the ack sends nothing twice."""

import json
import os
import signal
import subprocess
import sys
import time

from torget_messaging.dispatcher import CRASH_POINT_VARIABLE
from torget_messaging.service import MessagingService
from torget_messaging.testing import (
    GuardianSpec,
    absence_payload,
    deliveries,
    messaging_config,
    publish,
    set_up_household,
    sms_recipients,
)
from torget_shared.declare import declare_service_queues
from torget_shared.testing.probe import wait_for

MOBILE_1 = "+46701234567"
MOBILE_2 = "+46707654321"


def start_process(config: dict, crash: bool) -> subprocess.Popen:
    environment = dict(os.environ, MESSAGING_TEST_CONFIG=json.dumps(config))
    environment.pop(CRASH_POINT_VARIABLE, None)
    if crash:
        environment[CRASH_POINT_VARIABLE] = "after_sms_provider_call"
    return subprocess.Popen(
        [sys.executable, "-m", "torget_messaging.testing"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_killed_after_provider_call_sends_once(rabbit_config, service_database, sms_sink, smtp_server):
    amqp_uri = rabbit_config["AMQP_URI"]
    database_url = service_database("messaging")
    config = {
        **messaging_config(sms_sink, smtp_server),
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "OUTBOX_POLL_INTERVAL": 0.05,
    }
    declare_service_queues(MessagingService, amqp_uri)
    process = start_process(config, crash=False)
    try:
        household = set_up_household(
            amqp_uri,
            database_url,
            [
                # SMS only: SMTP cannot tell whether an e-mail cut off by the
                # kill arrived, so an e-mail in flight is sent again.
                GuardianSpec("Karin", mobile=MOBILE_1, email=None),
                GuardianSpec("Omar", language="ar", mobile=MOBILE_2, email=None),
            ],
        )
    finally:
        stop_process(process)

    crashing = start_process(config, crash=True)
    try:
        publish(amqp_uri, "attendance", "absence_registered", absence_payload(household))
        # The first SMS the provider accepts kills the process.
        crashing.wait(timeout=30)
        assert crashing.returncode == -signal.SIGKILL
    finally:
        stop_process(crashing)
    assert len(sms_sink.messages) == 1
    sms_states = [row["state"] for row in deliveries(database_url) if row["channel"] == "sms"]
    assert "sending" in sms_states

    restarted = start_process(config, crash=False)
    try:
        wait_for(lambda: len(sms_sink.messages) == 2, timeout=30)
        wait_for(lambda: sorted(row["state"] for row in deliveries(database_url)) == ["sent", "sent", "skipped", "skipped"], timeout=30)
        time.sleep(1.0)
    finally:
        stop_process(restarted)

    assert sms_recipients(sms_sink) == [MOBILE_1, MOBILE_2]
    sms_rows = [row for row in deliveries(database_url) if row["channel"] == "sms"]
    # The SMS cut off by the kill was reconciled from the provider's history, not sent again.
    assert [row["attempts"] for row in sms_rows] == [1, 1]
    assert {row["provider_message_id"] for row in sms_rows} == {message["id"] for message in sms_sink.messages}
