"""Fixtures of the gateway tests: the app on a test vhost, and small test services."""

import importlib
import io
import json
import logging
import time
from pathlib import Path

import eventlet
import marshmallow as ma
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from pythonjsonlogger.json import JsonFormatter

from torget_gateway.api import Blueprint
from torget_gateway.app import create_app
from torget_gateway.services import POOL_EXTENSION, call_service
from torget_shared.logs import CorrelationIdFilter, logging_config

TRANSLATIONS = Path(__file__).resolve().parents[1] / "torget_gateway" / "translations"

# Imported only by the tests that start them, so one service's import error
# fails those tests alone.
SERVICE_CLASSES = {
    "identity": "torget_identity.service:IdentityService",
    "school_directory": "torget_school_directory.service:SchoolDirectoryService",
    "messaging": "torget_messaging.service:MessagingService",
    "attendance": "torget_attendance.service:AttendanceService",
    "documents": "torget_documents.service:DocumentsService",
}


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs():
    """Compile the committed .po files, as make setup does, so the tests read the catalogs in git."""
    for po_path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        with po_path.with_suffix(".mo").open("wb") as mo_file:
            write_mo(mo_file, catalog)


class ContextData(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return dict(worker_ctx.data)


class ProbeService:
    """A service whose RPCs show what a call through the gateway carries."""

    name = "probe"
    context_data = ContextData()
    calls = 0

    @rpc
    def context(self) -> dict:
        return self.context_data

    @rpc
    def sleep(self, seconds: float) -> str:
        eventlet.sleep(seconds)
        return "awake"

    @rpc
    def count_and_sleep(self, seconds: float) -> int:
        ProbeService.calls += 1
        eventlet.sleep(seconds)
        return ProbeService.calls

    @rpc
    def fail(self) -> None:
        raise ValueError("the probe failed on purpose")


class EchoSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20))
    age = ma.fields.Integer(validate=ma.validate.Range(min=0, max=130))
    email = ma.fields.Email()


def _test_blueprint() -> Blueprint:
    blueprint = Blueprint("test", __name__, url_prefix="/test")

    @blueprint.route("/echo", methods=["POST"])
    @blueprint.arguments(EchoSchema)
    @blueprint.response(200, EchoSchema)
    def echo(data):
        return data

    @blueprint.route("/boom")
    def boom():
        raise RuntimeError("an unexpected failure with a secret detail")

    @blueprint.route("/call/<service>/<method>", methods=["POST"])
    def call(service, method):
        from flask import request

        return {"result": call_service(service, method, **(request.get_json(silent=True) or {}))}

    return blueprint


@pytest.fixture
def make_app(rabbit_config):
    """Return a factory of gateway apps on this test's vhost, each with the test blueprint."""
    apps = []

    def make(**config):
        app = create_app({"AMQP_URI": rabbit_config["AMQP_URI"], "RPC_TIMEOUT": 3.0, **config})
        app.register_blueprint(_test_blueprint())
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions[POOL_EXTENSION].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def probe_service(container_factory, rabbit_config):
    ProbeService.calls = 0
    container = container_factory(ProbeService, {"AMQP_URI": rabbit_config["AMQP_URI"]})
    container.start()
    return container


@pytest.fixture
def start_services(start_service):
    """Return a function that starts the five real services, less those named in ``skip``."""

    def start(skip=()):
        for name, path in SERVICE_CLASSES.items():
            if name not in skip:
                module_name, class_name = path.split(":")
                start_service(getattr(importlib.import_module(module_name), class_name), name)

    return start


@pytest.fixture
def json_log():
    """Capture the gateway's log lines as the JSON the processes write; returns a reader."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = logging_config("gateway")["formatters"]["json"]
    handler.setFormatter(JsonFormatter(formatter["fmt"], rename_fields=formatter["rename_fields"]))
    handler.addFilter(CorrelationIdFilter("gateway"))
    logger = logging.getLogger("torget_gateway")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    logger.removeHandler(handler)
    logger.setLevel(previous_level)


def _wait_until(predicate, timeout: float = 30.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s: {predicate}")


@pytest.fixture
def wait_until():
    """Return a function that polls ``predicate()`` until it is truthy, failing after ``timeout`` seconds."""
    return _wait_until
