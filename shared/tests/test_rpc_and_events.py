"""RPC plus events through the outbox, on the pinned nameko, eventlet and kombu."""

import sqlalchemy as sa
from torget_shared.testing.probe import EVENT, PRODUCER, received_rows, wait_for
from nameko.standalone.rpc import ServiceRpcProxy

from torget_shared.db import make_engine
from torget_shared.outbox import outbox_table


def outbox_states(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        states = list(connection.execute(sa.select(outbox_table.c.state)).scalars())
    engine.dispose()
    return states


def test_rpc_change_reaches_consumer_once(probe):
    services = probe()

    result = services.producer.record("hello")

    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert len(rows) == 1
    assert rows[0]["event_id"] == result["event_id"]
    assert rows[0]["text"] == "hello"
    assert wait_for(lambda: outbox_states(services.producer_url) == ["sent"])


def test_correlation_id_travels_rpc_to_event(probe, rabbit_config):
    services = probe()

    with ServiceRpcProxy(PRODUCER, rabbit_config, context_data={"correlation_id": "req-abc-123"}, timeout=10) as producer:
        result = producer.record("traced")

    assert result["correlation_id"] == "req-abc-123"
    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert rows[0]["correlation_id"] == "req-abc-123"


def test_rolled_back_change_publishes_nothing(probe):
    services = probe()

    try:
        services.producer.record_and_roll_back("never")
    except Exception as exc:  # nameko re-raises the remote error as RemoteError
        assert "rolled back" in str(exc)
    else:
        raise AssertionError("record_and_roll_back should raise")

    services.producer.record("after")
    rows = wait_for(lambda: received_rows(services.consumer_url))
    assert [row["text"] for row in rows] == ["after"]
    assert outbox_states(services.producer_url) == ["sent"]


def test_health_counts_outbox_rows(probe):
    services = probe()
    services.producer.record("counted")

    wait_for(lambda: services.producer.health()["outbox"]["sent"] == 1)
    report = services.producer.health()

    assert report["outbox"] == {"pending": 0, "sent": 1, "unrouted": 0, "failed": 0}
    assert EVENT == "probe_recorded"
