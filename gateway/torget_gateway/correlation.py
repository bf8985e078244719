"""The correlation id of each request, and the one log line each request writes.

A client may send X-Request-ID; a safe value is kept, anything else is
replaced by a new id. The id is set in the context variable that every log
line reads, returned in the X-Request-ID response header, and sent to the
services in the RPC context.
"""

import logging
import re
import time

from flask import Flask, Response, g, request

from torget_shared.context import accept_correlation_id, get_correlation_id, reset_correlation_id, set_correlation_id

REQUEST_ID_HEADER = "X-Request-ID"

log = logging.getLogger("torget_gateway.requests")

# Swedish personal identity and coordination numbers: YYMMDD or YYYYMMDD,
# an optional - or +, and four digits.
_IDENTITY_NUMBER = r"(?<!\d)(?:\d{8}|\d{6})[-+]?\d{4}(?!\d)"
# A UUID whose first groups are all digits has that shape too, and is kept.
_UUID = r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])"
_UUID_OR_IDENTITY_NUMBER = re.compile(f"({_UUID})|{_IDENTITY_NUMBER}")


def redact_path(path: str) -> str:
    """Return ``path`` with anything shaped like a personal identity number masked, UUIDs left whole."""
    return _UUID_OR_IDENTITY_NUMBER.sub(lambda match: match.group(1) or "[redacted]", path)


def start_request() -> None:
    g.request_started = time.perf_counter()
    correlation_id = accept_correlation_id(request.headers.get(REQUEST_ID_HEADER))
    g.correlation_token = set_correlation_id(correlation_id)


def finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = get_correlation_id()

    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    # The query string is left out because it may carry tokens or personal identity numbers.
    log.info(
        "%s %s %s",
        request.method,
        redact_path(request.path),
        response.status_code,
        extra={
            "method": request.method,
            "path": redact_path(request.path),
            "status": response.status_code,
            "duration_ms": duration_ms,
        },
    )
    return response


def end_request(exc: BaseException | None) -> None:
    token = g.pop("correlation_token", None)
    if token is not None:
        reset_correlation_id(token)


def init_app(app: Flask) -> None:
    """Register the hooks; call this before any other before_request hook is added."""
    app.before_request(start_request)
    app.after_request(finish_request)
    app.teardown_request(end_request)
