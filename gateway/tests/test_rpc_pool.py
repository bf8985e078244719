"""The RPC client pool: broker drops, timeouts, bounds and concurrency."""

import eventlet
import pytest

from torget_gateway.rpc import PoolExhausted, RpcClientPool, ServiceTimeout
from torget_gateway.services import POOL_EXTENSION

CONTEXT = {"correlation_id": "pool-test"}


@pytest.fixture
def pool(rabbit_config):
    pool = RpcClientPool(rabbit_config["AMQP_URI"], size=2, timeout=5.0)
    yield pool
    pool.close()


def test_pool_survives_broker_dropping_connections(make_app, probe_service, rabbit_admin, rabbit_config, wait_until):
    app = make_app(RPC_TIMEOUT=15.0)
    client = app.test_client()
    pool = app.extensions[POOL_EXTENSION]
    vhost = rabbit_config["vhost"]

    before = client.post("/test/call/probe/context")
    assert before.status_code == 200
    assert pool.clients_created == 1

    # The management API lists a new connection only after its next statistics update.
    connections = wait_until(lambda: rabbit_admin.connections(vhost))
    for connection in connections:
        rabbit_admin.close_connection(connection["name"])

    after = client.post("/test/call/probe/context", headers={"X-Request-ID": "after-drop"})

    assert after.status_code == 200
    assert after.get_json()["result"]["correlation_id"] == "after-drop"
    assert pool.clients_created == 2


def test_timed_out_client_replaced(make_app, probe_service):
    app = make_app(RPC_TIMEOUT=0.3)
    client = app.test_client()
    pool = app.extensions[POOL_EXTENSION]

    slow = client.post("/test/call/probe/sleep", json={"seconds": 1.0})
    fast = client.post("/test/call/probe/context")

    assert slow.status_code == 504
    assert fast.status_code == 200
    assert pool.clients_created == 2


def test_pool_reuses_clients(pool, probe_service):
    for _ in range(5):
        assert pool.call("probe", "context", context_data=CONTEXT)["correlation_id"] == "pool-test"

    assert pool.clients_created == 1


def test_concurrent_calls_stay_within_size(pool, probe_service):
    green_pool = eventlet.GreenPool()
    threads = [
        green_pool.spawn(pool.call, "probe", "sleep", kwargs={"seconds": 0.2}, context_data=CONTEXT)
        for _ in range(6)
    ]

    results = [thread.wait() for thread in threads]

    assert results == ["awake"] * 6
    assert pool.clients_created == 2


def test_exhausted_pool_raises(rabbit_config, probe_service):
    pool = RpcClientPool(rabbit_config["AMQP_URI"], size=1, timeout=5.0)
    try:
        holder = eventlet.spawn(pool.call, "probe", "sleep", kwargs={"seconds": 1.0}, context_data=CONTEXT)
        eventlet.sleep(0.1)

        with pytest.raises(PoolExhausted) as raised:
            pool.call("probe", "context", context_data=CONTEXT, timeout=0.2)

        assert raised.value.service == "probe"
        assert holder.wait() == "awake"
    finally:
        pool.close()


def test_exhausted_pool_gives_503(make_app, probe_service):
    app = make_app(RPC_POOL_SIZE=1, RPC_TIMEOUT=0.3)
    pool = app.extensions[POOL_EXTENSION]
    holder = eventlet.spawn(pool.call, "probe", "sleep", kwargs={"seconds": 1.0}, context_data=CONTEXT, timeout=3.0)
    eventlet.sleep(0.1)

    response = app.test_client().post("/test/call/probe/context", headers={"Accept-Language": "en"})
    error = response.get_json()["error"]

    assert holder.wait() == "awake"
    assert response.status_code == 503
    assert error["code"] == "gateway_busy"
    assert error["message"] == "The gateway has too many calls in progress. Try again shortly."


def test_timeout_per_call(pool, probe_service):
    with pytest.raises(ServiceTimeout) as raised:
        pool.call("probe", "sleep", kwargs={"seconds": 1.0}, context_data=CONTEXT, timeout=0.2)

    assert raised.value.timeout == 0.2
    assert pool.call("probe", "sleep", kwargs={"seconds": 0.1}, context_data=CONTEXT, timeout=2.0) == "awake"


def test_interrupted_call_not_sent_again(pool, probe_service, rabbit_admin, rabbit_config, wait_until):
    # The pool lends its one idle client again, so its reply connection is the one to close.
    pool.call("probe", "context", context_data=CONTEXT)
    (client,) = pool._idle
    reply_port = client._reply_consumer.connection.connection.sock.getsockname()[1]

    def reply_connection():
        matches = [item for item in rabbit_admin.connections(rabbit_config["vhost"]) if item["peer_port"] == reply_port]
        return matches[0] if matches else None

    connection = wait_until(reply_connection)
    call = eventlet.spawn(pool.call, "probe", "count_and_sleep", kwargs={"seconds": 1.5}, context_data=CONTEXT)
    eventlet.sleep(0.5)
    rabbit_admin.close_connection(connection["name"])

    outcome = call.wait()

    # nameko reconnects the reply consumer and keeps waiting. The request is not published again.
    assert outcome == 1
    assert probe_service.service_cls.calls == 1
