"""The gateway's Flask configuration, read from environment variables.

The broker address and the RPC timeout are the ones every process of the
stack reads (``AMQP_URI``, ``RPC_TIMEOUT``); the rest are the gateway's own.
"""

import os
from importlib.metadata import version

from torget_shared.config import Settings

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# The name of the bearer token scheme in the OpenAPI document.
BEARER_SCHEME = "bearerAuth"
DEFAULT_RPC_POOL_SIZE = 12
DEFAULT_READINESS_TIMEOUT = 2.0


def _positive(environ, name: str, default, parse, what: str):
    """Return ``parse(environ[name])``, or ``default`` when the variable is unset or empty."""
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = parse(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {raw!r}")
    return value


def config_from_env(environ=None) -> dict:
    """Return the Flask configuration of the gateway from the environment.

    GATEWAY_MAX_BODY_BYTES caps a request body in bytes (default 1 MiB).
    GATEWAY_RPC_POOL_SIZE caps the RPC clients of one worker process; each
    request uses one at a time and /readyz one per service.
    GATEWAY_READINESS_TIMEOUT is the seconds /readyz waits for the broker
    and for each service's health report.
    GATEWAY_PUBLIC_URL is the base URL the OpenAPI document names as server.
    """
    environ = os.environ if environ is None else environ
    settings = Settings.from_env(environ)
    return {
        "AMQP_URI": settings.amqp_uri,
        "RPC_TIMEOUT": settings.rpc_timeout,
        "RPC_POOL_SIZE": _positive(environ, "GATEWAY_RPC_POOL_SIZE", DEFAULT_RPC_POOL_SIZE, int, "a whole number"),
        "READINESS_TIMEOUT": _positive(
            environ, "GATEWAY_READINESS_TIMEOUT", DEFAULT_READINESS_TIMEOUT, float, "a number of seconds"
        ),
        "MAX_CONTENT_LENGTH": _positive(
            environ, "GATEWAY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int, "a whole number of bytes"
        ),
        "BABEL_DEFAULT_LOCALE": "sv",
        "API_TITLE": "Torget",
        "API_VERSION": version("torget-gateway"),
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "servers": [{"url": environ.get("GATEWAY_PUBLIC_URL", "/"), "description": "Torget gateway"}],
            # A token is optional at the gateway: an operation that needs a
            # login answers 401 without one (see torget_gateway.api).
            "security": [{BEARER_SCHEME: []}, {}],
            "info": {
                "description": (
                    "The HTTP interface of Torget. Every failure returns the Error body; "
                    "its message is in Swedish unless Accept-Language prefers English."
                )
            },
        },
    }
