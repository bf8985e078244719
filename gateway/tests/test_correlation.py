"""The correlation id: X-Request-ID in and out, in the log line, and in the RPC context."""

import re

import pytest

from torget_gateway.correlation import redact_path


def test_request_id_round_trip(client):
    response = client.get("/healthz", headers={"X-Request-ID": "client-chosen.id:42"})

    assert response.headers["X-Request-ID"] == "client-chosen.id:42"


def test_unsafe_request_id_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id; with spaces"})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_missing_request_id_generated(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_error_body_carries_request_id(client):
    response = client.get("/missing", headers={"X-Request-ID": "trace-404"})

    assert response.get_json()["error"]["request_id"] == "trace-404"
    assert response.headers["X-Request-ID"] == "trace-404"


def test_request_logged_as_one_json_line(client, json_log):
    client.get("/healthz", headers={"X-Request-ID": "trace-log"})

    lines = [line for line in json_log() if line["logger"] == "torget_gateway.requests"]
    assert len(lines) == 1
    assert lines[0]["method"] == "GET"
    assert lines[0]["path"] == "/healthz"
    assert lines[0]["status"] == 200
    assert isinstance(lines[0]["duration_ms"], float)
    assert lines[0]["correlation_id"] == "trace-log"


def test_log_omits_query_and_identity_numbers(client, json_log):
    client.get("/persons/19900101-1234?access_token=s3cret&pnr=199001011234", headers={"X-Request-ID": "trace-pii"})

    text = "\n".join(str(line) for line in json_log())
    lines = [line for line in json_log() if line["logger"] == "torget_gateway.requests"]
    assert lines[0]["path"] == "/persons/[redacted]"
    assert lines[0]["status"] == 404
    assert "s3cret" not in text
    assert "1234" not in text


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        # A UUID whose first groups are digits keeps every character.
        ("/messaging/conversations/12345678-1234-4abc-8def-0123456789ab", "/messaging/conversations/12345678-1234-4abc-8def-0123456789ab"),
        ("/documents/children/20121212-1212/x", "/documents/children/[redacted]/x"),
        ("/a/201212121212", "/a/[redacted]"),
    ],
)
def test_redaction_keeps_uuids_whole(path, logged):
    assert redact_path(path) == logged


def test_correlation_id_reaches_service(client, probe_service):
    response = client.post("/test/call/probe/context", headers={"X-Request-ID": "trace-rpc"})
    context = response.get_json()["result"]

    assert response.status_code == 200
    assert context["correlation_id"] == "trace-rpc"
    assert context["calling_service"] == "gateway"
    assert context["caller"]["kind"] == "anonymous"
    assert context["caller"]["language"] == "sv"


def test_caller_language_follows_request(client, probe_service):
    response = client.post("/test/call/probe/context", headers={"Accept-Language": "en"})

    assert response.get_json()["result"]["caller"]["language"] == "en"


def test_each_call_sends_own_context(client, probe_service):
    first = client.post("/test/call/probe/context", headers={"X-Request-ID": "trace-first"})
    second = client.post("/test/call/probe/context", headers={"X-Request-ID": "trace-second"})

    assert first.get_json()["result"]["correlation_id"] == "trace-first"
    assert second.get_json()["result"]["correlation_id"] == "trace-second"
