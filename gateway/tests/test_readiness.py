"""/healthz and /readyz against the five real services."""

import time

import eventlet
from nameko.rpc import rpc

from torget_shared.config import SERVICE_NAMES



class SlowAttendance:
    """Stands in for attendance with a health check slower than the readiness timeout."""

    name = "attendance"

    @rpc
    def health(self) -> dict:
        eventlet.sleep(3)
        return {"service": "attendance", "status": "ok"}


def test_healthz_needs_no_broker(make_app):
    client = make_app(AMQP_URI="amqp://guest:guest@127.0.0.1:1/").test_client()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_lists_all_five_services(client, start_services):
    start_services()

    response = client.get("/readyz")
    body = response.get_json()

    assert response.status_code == 200
    assert body["status"] == "ready"
    assert body["broker"] == "ok"
    assert body["unavailable"] == []
    assert set(body["services"]) == set(SERVICE_NAMES)
    for name in SERVICE_NAMES:
        assert body["services"][name]["service"] == name
        assert body["services"][name]["status"] == "ok"
        assert body["services"][name]["database"] == "ok"
        assert "pending" in body["services"][name]["outbox"]


def test_readyz_names_service_not_started(client, start_services):
    start_services(skip=("documents",))

    response = client.get("/readyz")
    body = response.get_json()

    assert response.status_code == 503
    assert body["status"] == "not_ready"
    assert body["unavailable"] == ["documents"]
    assert body["services"]["documents"]["status"] == "unavailable"
    assert body["services"]["identity"]["status"] == "ok"
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["message"] == "De här tjänsterna är inte redo: documents."
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]


def test_readyz_names_service_timed_out(make_app, start_services, container_factory, rabbit_config):
    client = make_app(READINESS_TIMEOUT=0.5).test_client()
    start_services(skip=("attendance",))
    container_factory(SlowAttendance, {"AMQP_URI": rabbit_config["AMQP_URI"]}).start()

    started = time.monotonic()
    response = client.get("/readyz", headers={"Accept-Language": "en"})
    elapsed = time.monotonic() - started
    body = response.get_json()

    assert response.status_code == 503
    assert body["unavailable"] == ["attendance"]
    assert body["services"]["attendance"]["status"] == "timeout"
    assert body["services"]["attendance"]["message"] == (
        "The service attendance did not respond within 0.5 seconds. Try again later."
    )
    assert body["error"]["message"] == "These services are not ready: attendance."
    # The services are asked in parallel, so one slow service costs one timeout.
    assert elapsed < 2.0


def test_readyz_reports_unreachable_broker(make_app):
    client = make_app(AMQP_URI="amqp://guest:guest@127.0.0.1:1/", READINESS_TIMEOUT=0.5).test_client()

    response = client.get("/readyz")
    body = response.get_json()

    assert response.status_code == 503
    assert body["broker"] == "unreachable"
    assert body["unavailable"] == list(SERVICE_NAMES)
    assert body["error"]["code"] == "broker_unavailable"
    assert body["error"]["message"] == "Meddelandeservern går inte att nå. Försök igen senare."
    for name in SERVICE_NAMES:
        assert body["services"][name]["status"] == "unreachable"


class BrokenIdentity:
    """Stands in for identity with a health check that raises."""

    name = "identity"

    @rpc
    def health(self) -> dict:
        raise RuntimeError("the database is gone")


def test_readyz_reports_failing_health_check(client, start_services, container_factory, rabbit_config):
    start_services(skip=("identity",))
    container_factory(BrokenIdentity, {"AMQP_URI": rabbit_config["AMQP_URI"]}).start()

    response = client.get("/readyz", headers={"Accept-Language": "en"})
    body = response.get_json()

    assert response.status_code == 503
    assert body["unavailable"] == ["identity"]
    assert body["services"]["identity"]["status"] == "error"
    assert body["services"]["identity"]["message"] == "The service identity reported an error."
    assert "the database is gone" not in response.get_data(as_text=True)
