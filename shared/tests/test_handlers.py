"""Failed handlers: retry with back-off, dead letters, replay, redelivery handled once."""

import json

from kombu import Connection
from nameko.standalone.events import get_event_exchange

from torget_shared.deadletters import dead_letter_queues, list_dead_letters, replay_dead_letters
from torget_shared.declare import declare_service_queues
from torget_shared.handlers import ATTEMPT_HEADER, ERROR_HEADER
from torget_shared.testing.probe import EVENT, PRODUCER, ConsumerService, attempts, received_rows, wait_for

HANDLER_QUEUE = f"evt-{PRODUCER}-{EVENT}--probe_consumer.on_recorded"
DEAD_QUEUE = f"{HANDLER_QUEUE}.dead"
FAST_RETRIES = {"HANDLER_RETRY_DELAYS": [0.1, 0.2]}


def queue_depth(amqp_uri: str, name: str) -> int:
    with Connection(amqp_uri) as connection:
        _, message_count, _ = connection.default_channel.queue_declare(name, passive=True)
    return message_count


def test_handler_retried_until_it_succeeds(probe):
    services = probe(consumer_config=FAST_RETRIES)

    event_id = services.producer.record("fail 2")["event_id"]

    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert [row["event_id"] for row in rows] == [event_id]
    assert attempts[event_id] == 3


def test_handler_failing_every_retry_ends_dead(probe, rabbit_config, rabbit):
    services = probe(consumer_config=FAST_RETRIES)
    amqp_uri = rabbit_config["AMQP_URI"]

    event_id = services.producer.record("always fail")["event_id"]

    wait_for(lambda: queue_depth(amqp_uri, DEAD_QUEUE) == 1)
    assert attempts[event_id] == 3
    assert received_rows(services.consumer_url) == []
    assert dead_letter_queues(rabbit.api_uri, rabbit_config["vhost"]) == [DEAD_QUEUE]

    [letter] = list_dead_letters(amqp_uri, [DEAD_QUEUE])
    assert letter["event_id"] == event_id
    assert letter["event_type"] == EVENT
    assert letter["attempts"] == 3
    assert "always fails" in letter["error"]
    assert queue_depth(amqp_uri, DEAD_QUEUE) == 1  # listing leaves it in place


def test_replayed_dead_letter_is_handled(probe, rabbit_config):
    services = probe(consumer_config=FAST_RETRIES)
    amqp_uri = rabbit_config["AMQP_URI"]

    # Attempts 1 to 3 fail and the event goes dead; after the replay,
    # attempts 4 and 5 fail again and the sixth succeeds.
    event_id = services.producer.record("fail 5")["event_id"]
    wait_for(lambda: queue_depth(amqp_uri, DEAD_QUEUE) == 1)

    assert replay_dead_letters(amqp_uri, DEAD_QUEUE) == 1

    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert [row["event_id"] for row in rows] == [event_id]
    assert attempts[event_id] == 6
    assert queue_depth(amqp_uri, DEAD_QUEUE) == 0


def test_replay_of_one_message_leaves_the_others(probe, rabbit_config):
    services = probe(consumer_config=FAST_RETRIES)
    amqp_uri = rabbit_config["AMQP_URI"]
    first = services.producer.record("fail 5")["event_id"]
    second = services.producer.record("fail 5")["event_id"]
    wait_for(lambda: queue_depth(amqp_uri, DEAD_QUEUE) == 2)

    assert replay_dead_letters(amqp_uri, DEAD_QUEUE, message_id=second) == 1

    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert [row["event_id"] for row in rows] == [second]
    [letter] = list_dead_letters(amqp_uri, [DEAD_QUEUE])
    assert letter["event_id"] == first


def test_permanent_error_skips_retries(probe, rabbit_config):
    services = probe(consumer_config=FAST_RETRIES)

    event_id = services.producer.record("permanent")["event_id"]

    wait_for(lambda: queue_depth(rabbit_config["AMQP_URI"], DEAD_QUEUE) == 1)
    assert attempts[event_id] == 1


def test_malformed_event_goes_dead_unhandled(probe, rabbit_config):
    probe(start_producer=False)
    amqp_uri = rabbit_config["AMQP_URI"]
    broken = {"event_type": EVENT, "payload": {"text": "no envelope"}}

    with Connection(amqp_uri) as connection:
        producer = connection.Producer()
        producer.publish(broken, exchange=get_event_exchange(PRODUCER, {}), routing_key=EVENT, serializer="json")

    wait_for(lambda: queue_depth(amqp_uri, DEAD_QUEUE) == 1)
    assert sum(attempts.values()) == 0
    [letter] = list_dead_letters(amqp_uri, [DEAD_QUEUE])
    assert "malformed event" in letter["error"]


def test_failure_after_commit_is_not_applied_twice(probe):
    services = probe(consumer_config=FAST_RETRIES)

    event_id = services.producer.record("fail after commit")["event_id"]

    wait_for(lambda: attempts[event_id] == 2)
    rows = received_rows(services.consumer_url)
    assert [row["event_id"] for row in rows] == [event_id]


def test_redelivered_event_is_handled_once(probe, rabbit_config):
    services = probe(consumer_config=FAST_RETRIES)
    result = services.producer.record("once")
    wait_for(lambda: received_rows(services.consumer_url))
    [sent] = [row for row in list_outbox(services.producer_url)]

    # Deliver the same envelope again, as a broker redelivery or a second relay would.
    with Connection(rabbit_config["AMQP_URI"]) as connection:
        connection.Producer().publish(
            sent["envelope"], exchange=get_event_exchange(PRODUCER, {}), routing_key=EVENT, serializer="json"
        )

    wait_for(lambda: attempts[result["event_id"]] == 2)
    assert len(received_rows(services.consumer_url)) == 1


def test_declared_queue_keeps_events_until_consumer_starts(start_service, rabbit_config, service_database):
    from torget_shared.testing.probe import ProducerService, create_test_tables

    amqp_uri = rabbit_config["AMQP_URI"]
    assert declare_service_queues(ConsumerService, amqp_uri) == [HANDLER_QUEUE]
    producer_url = service_database("attendance")
    create_test_tables(producer_url)
    producer = start_service(ProducerService, database_url=producer_url)

    event_id = producer.record("early")["event_id"]
    wait_for(lambda: queue_depth(amqp_uri, HANDLER_QUEUE) == 1)

    consumer_url = service_database("messaging")
    create_test_tables(consumer_url)
    start_service(ConsumerService, database_url=consumer_url)
    rows = wait_for(lambda: received_rows(consumer_url))
    assert [row["event_id"] for row in rows] == [event_id]


def list_outbox(database_url: str) -> list[dict]:
    import sqlalchemy as sa

    from torget_shared.db import make_engine
    from torget_shared.outbox import outbox_table

    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(sa.select(outbox_table))]
    engine.dispose()
    return rows


def test_retry_headers_count_attempts(probe, rabbit_config):
    services = probe(consumer_config={"HANDLER_RETRY_DELAYS": [30.0]})
    amqp_uri = rabbit_config["AMQP_URI"]

    services.producer.record("always fail")

    retry_queue = f"{HANDLER_QUEUE}.retry.30000ms"
    wait_for(lambda: queue_depth(amqp_uri, retry_queue) == 1)
    with Connection(amqp_uri) as connection:
        message = connection.default_channel.basic_get(retry_queue, no_ack=False)
        headers = message.headers
        body = json.loads(message.body)
    assert headers[ATTEMPT_HEADER] == 1
    assert "always fails" in headers[ERROR_HEADER]
    assert body["event_type"] == EVENT
