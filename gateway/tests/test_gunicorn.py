"""The gateway under gunicorn's gthread workers: plain threads calling real services."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import eventlet
import pytest
import requests

REPOSITORY = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(rabbit_config, wait_until, tmp_path):
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    environment = {
        **os.environ,
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "GATEWAY_BIND": f"127.0.0.1:{port}",
        "GATEWAY_WORKERS": "1",
        "GATEWAY_THREADS": "4",
    }
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "-c",
                "gateway/gunicorn.conf.py",
                "torget_gateway.app:create_app()",
            ],
            cwd=REPOSITORY,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{base_url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return process.poll() is not None

    try:
        wait_until(answers, timeout=30, interval=0.2)
        assert process.poll() is None, log_path.read_text()
        yield base_url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_gunicorn_serves_readiness(gunicorn, start_services):
    base_url, log_path = gunicorn
    start_services()

    responses = [
        eventlet.spawn(requests.get, f"{base_url}/readyz", headers={"X-Request-ID": f"gunicorn-{index}"}, timeout=20)
        for index in range(4)
    ]
    results = [response.wait() for response in responses]

    assert [result.status_code for result in results] == [200] * 4
    assert [result.headers["X-Request-ID"] for result in results] == [f"gunicorn-{index}" for index in range(4)]
    assert results[0].json()["status"] == "ready"


def test_gunicorn_logs_json_without_query(gunicorn):
    base_url, log_path = gunicorn

    response = requests.get(f"{base_url}/nowhere?access_token=s3cret", headers={"X-Request-ID": "gunicorn-log"}, timeout=5)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line.get("logger") == "torget_gateway.requests"]
    assert requests_logged[-1]["correlation_id"] == "gunicorn-log"
    assert requests_logged[-1]["path"] == "/nowhere"
    assert "s3cret" not in log_path.read_text()
    assert any(line.get("message") == "Using worker: gthread" for line in lines)
