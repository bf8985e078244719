"""Configuration read from environment variables.

The defaults run the embedded stack: SQLite files under ``var/`` and the
RabbitMQ at 127.0.0.1:5672. Every service reads the same names, so one
environment file configures the whole stack.
"""

import os
from dataclasses import dataclass

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_RABBIT_API_URI = "http://guest:guest@127.0.0.1:15672"

SERVICE_NAMES = ("identity", "school_directory", "messaging", "attendance", "documents")


def env_prefix(service_name: str) -> str:
    """Return the environment prefix of a service, e.g. ``SCHOOL_DIRECTORY``."""
    return service_name.upper().replace("-", "_")


def database_url(service_name: str, environ=None) -> str:
    """Return the database URL of a service.

    ``<SERVICE>_DATABASE_URL`` wins; without it the service uses a SQLite
    file named after it under ``TORGET_VAR_DIR`` (default ``var``).
    """
    environ = os.environ if environ is None else environ
    explicit = environ.get(f"{env_prefix(service_name)}_DATABASE_URL")
    if explicit:
        return explicit

    var_dir = environ.get("TORGET_VAR_DIR", "var")
    return f"sqlite:///{os.path.abspath(os.path.join(var_dir, service_name + '.db'))}"


def _float(environ, name: str, default: float) -> float:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc


def _delays(environ, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"{name} must be comma-separated seconds, got {raw!r}") from exc
    if not delays or any(delay <= 0 for delay in delays):
        raise ValueError(f"{name} must list at least one positive delay, got {raw!r}")
    return delays


@dataclass(frozen=True)
class Settings:
    """Settings shared by every process of the stack."""

    amqp_uri: str = DEFAULT_AMQP_URI
    rabbit_api_uri: str = DEFAULT_RABBIT_API_URI
    log_level: str = "INFO"
    rpc_timeout: float = 5.0
    outbox_poll_interval: float = 0.2
    outbox_lease: float = 30.0
    outbox_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
    handler_retry_delays: tuple[float, ...] = (1.0, 10.0, 60.0, 300.0)

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        environ = os.environ if environ is None else environ
        return cls(
            amqp_uri=environ.get("AMQP_URI", DEFAULT_AMQP_URI),
            rabbit_api_uri=environ.get("RABBIT_API_URI", DEFAULT_RABBIT_API_URI),
            log_level=environ.get("LOG_LEVEL", "INFO").upper(),
            rpc_timeout=_float(environ, "RPC_TIMEOUT", cls.rpc_timeout),
            outbox_poll_interval=_float(environ, "OUTBOX_POLL_INTERVAL", cls.outbox_poll_interval),
            outbox_lease=_float(environ, "OUTBOX_LEASE", cls.outbox_lease),
            outbox_retry_delays=_delays(environ, "OUTBOX_RETRY_DELAYS", cls.outbox_retry_delays),
            handler_retry_delays=_delays(environ, "HANDLER_RETRY_DELAYS", cls.handler_retry_delays),
        )
