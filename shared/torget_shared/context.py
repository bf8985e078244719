"""The correlation id of the work in progress.

A context variable stores it, so every log line written while handling one
request, RPC call or event carries the same id. eventlet gives each
greenthread its own context, and so does each thread of the gateway.
"""

import re
import uuid
from contextvars import ContextVar

CONTEXT_KEY = "correlation_id"

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# A client-chosen X-Request-ID is kept only when it is short and plain, so a
# header cannot inject text into log lines.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def accept_correlation_id(candidate: str | None) -> str:
    """Return ``candidate`` when it is a safe id, else a new one."""
    if candidate and _VALID_ID.match(candidate):
        return candidate
    return new_correlation_id()


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None):
    """Set the current correlation id and return the token to reset it."""
    return _correlation_id.set(value)


def reset_correlation_id(token) -> None:
    _correlation_id.reset(token)
