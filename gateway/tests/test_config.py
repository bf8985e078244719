"""The gateway's configuration from environment variables."""

import pytest

from torget_gateway.config import DEFAULT_MAX_BODY_BYTES, config_from_env


def test_defaults_without_environment():
    config = config_from_env({})

    assert config["MAX_CONTENT_LENGTH"] == DEFAULT_MAX_BODY_BYTES == 1024 * 1024
    assert config["RPC_TIMEOUT"] == 5.0
    assert config["AMQP_URI"] == "amqp://guest:guest@127.0.0.1:5672/"
    assert config["BABEL_DEFAULT_LOCALE"] == "sv"


def test_environment_overrides_defaults():
    config = config_from_env(
        {
            "GATEWAY_MAX_BODY_BYTES": "2048",
            "GATEWAY_RPC_POOL_SIZE": "3",
            "GATEWAY_READINESS_TIMEOUT": "0.75",
            "RPC_TIMEOUT": "1.5",
            "AMQP_URI": "amqp://torget:secret@broker:5672/torget",
        }
    )

    assert config["MAX_CONTENT_LENGTH"] == 2048
    assert config["RPC_POOL_SIZE"] == 3
    assert config["READINESS_TIMEOUT"] == 0.75
    assert config["RPC_TIMEOUT"] == 1.5
    assert config["AMQP_URI"] == "amqp://torget:secret@broker:5672/torget"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("GATEWAY_MAX_BODY_BYTES", "1MB", "GATEWAY_MAX_BODY_BYTES must be a whole number of bytes, got '1MB'"),
        ("GATEWAY_RPC_POOL_SIZE", "0", "GATEWAY_RPC_POOL_SIZE must be greater than zero, got '0'"),
        ("GATEWAY_READINESS_TIMEOUT", "soon", "GATEWAY_READINESS_TIMEOUT must be a number of seconds, got 'soon'"),
    ],
)
def test_invalid_value_names_variable(name, value, expected):
    with pytest.raises(ValueError) as raised:
        config_from_env({name: value})

    assert str(raised.value) == expected


def test_body_limit_from_environment(monkeypatch, make_app):
    monkeypatch.setenv("GATEWAY_MAX_BODY_BYTES", "64")
    client = make_app().test_client()

    response = client.post("/test/echo", json={"name": "x" * 100})

    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == "Begärans innehåll är för stort: högst 64 byte tillåts."
