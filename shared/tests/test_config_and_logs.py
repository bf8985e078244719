"""Configuration from the environment and JSON log lines with the correlation id."""

import io
import json
import logging

import pytest

from torget_shared.config import Settings, database_url
from torget_shared.context import accept_correlation_id, reset_correlation_id, set_correlation_id
from torget_shared.logs import configure_logging


def test_defaults_run_embedded_stack(tmp_path):
    settings = Settings.from_env({})

    assert settings.amqp_uri == "amqp://guest:guest@127.0.0.1:5672/"
    assert database_url("identity", {"TORGET_VAR_DIR": str(tmp_path)}) == f"sqlite:///{tmp_path}/identity.db"


def test_service_database_url_from_environment():
    environ = {"SCHOOL_DIRECTORY_DATABASE_URL": "postgresql://db/directory"}

    assert database_url("school_directory", environ) == "postgresql://db/directory"


def test_retry_delays_parsed():
    settings = Settings.from_env({"HANDLER_RETRY_DELAYS": "0.5, 2,10"})

    assert settings.handler_retry_delays == (0.5, 2.0, 10.0)


@pytest.mark.parametrize(
    "environ, name",
    [
        ({"RPC_TIMEOUT": "soon"}, "RPC_TIMEOUT"),
        ({"HANDLER_RETRY_DELAYS": "1,x"}, "HANDLER_RETRY_DELAYS"),
        ({"OUTBOX_RETRY_DELAYS": "0,1"}, "OUTBOX_RETRY_DELAYS"),
    ],
)
def test_invalid_setting_names_variable(environ, name):
    with pytest.raises(ValueError) as error:
        Settings.from_env(environ)

    assert name in str(error.value)


@pytest.mark.parametrize(
    "candidate, kept",
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("evil\ninjected", False),
        ("", False),
        (None, False),
    ],
)
def test_request_id_accepted_only_when_plain(candidate, kept):
    accepted = accept_correlation_id(candidate)

    assert (accepted == candidate) is kept
    assert accepted


def test_log_line_is_json_with_correlation_id():
    configure_logging("identity", "INFO")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)

    token = set_correlation_id("req-42")
    try:
        logging.getLogger("torget.test").info("account %s created", "a-1", extra={"event_id": "e-1"})
    finally:
        reset_correlation_id(token)

    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "account a-1 created"
    assert line["correlation_id"] == "req-42"
    assert line["service"] == "identity"
    assert line["event_id"] == "e-1"
    assert line["level"] == "INFO"
