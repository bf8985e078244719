"""The gateway's one error format, and the handlers that produce it.

Every failure gets a response ``{"error": {"status", "code", "message",
"fields"?, "request_id"}}``. The message is in the request's locale (Swedish
unless the client prefers English), and ``request_id`` is the correlation id
that the X-Request-ID response header also carries.
"""

import json
import logging
import re

import marshmallow as ma
from flask import Flask, Response, jsonify, request
from flask_babel import format_decimal, format_number, gettext
from nameko.exceptions import RemoteError
from werkzeug.exceptions import HTTPException

from torget_gateway.correlation import redact_path
from torget_gateway.rpc import BrokerUnavailable, PoolExhausted, ServiceTimeout, ServiceUnavailable
from torget_gateway.validation import flatten_messages, summarize
from torget_shared.context import get_correlation_id

log = logging.getLogger(__name__)


class ErrorSchema(ma.Schema):
    status = ma.fields.Integer(required=True, metadata={"description": "HTTP status code", "example": 422})
    code = ma.fields.String(
        required=True, metadata={"description": "Stable machine-readable error code", "example": "validation_failed"}
    )
    message = ma.fields.String(
        required=True, metadata={"description": "What failed and what to do, in the request's language"}
    )
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Messages per invalid field, by dotted field name; only on validation errors"},
    )
    request_id = ma.fields.String(
        required=True, metadata={"description": "Correlation id of the request, also in the X-Request-ID header"}
    )


class ErrorResponseSchema(ma.Schema):
    error = ma.fields.Nested(ErrorSchema, required=True)


class ApiError(Exception):
    """A failure to report in the error format; ``message`` is already translated."""

    def __init__(self, status: int, code: str, message: str, *, fields=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}


def error_body(error: ApiError) -> dict:
    body = {"status": error.status, "code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    body["request_id"] = get_correlation_id()
    return {"error": body}


def error_response(error: ApiError) -> Response:
    response = jsonify(error_body(error))
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


_SURROGATE = re.compile("[\ud800-\udfff]")


class LoneSurrogateError(json.JSONDecodeError):
    """A JSON body with half of a UTF-16 surrogate pair in a string, such as "\\ud800".

    JSON's escapes allow it, but it is no character: no database or e-mail
    can store it as text.
    """

    def __init__(self, field: str, document: str):
        super().__init__(f"half of a surrogate pair in {field}", document, 0)
        self.field = field


def check_no_lone_surrogate(document: str, value) -> None:
    """Raise LoneSurrogateError naming the first key or string of ``value`` that contains half of a surrogate pair."""
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise LoneSurrogateError(path or "(body)", document)
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(str(key)):
                    raise LoneSurrogateError(path or "(body)", document)
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{index}" if path else str(index), child) for index, child in enumerate(item))


def _caused_by_invalid_json(exc: BaseException) -> json.JSONDecodeError | UnicodeDecodeError | None:
    """Return the JSON decoding error behind a 400, raised by webargs or by ``request.get_json``."""
    data = getattr(exc, "data", None) or {}
    candidates = [data.get("exc"), exc.__cause__, exc.__context__]
    while candidates:
        candidate = candidates.pop(0)
        if isinstance(candidate, (json.JSONDecodeError, UnicodeDecodeError)):
            return candidate
        if isinstance(candidate, BaseException):
            candidates.extend([candidate.__cause__, candidate.__context__])
    return None


def _invalid_json(decode_error) -> ApiError:
    if isinstance(decode_error, LoneSurrogateError):
        message = gettext(
            "The field %(field)s contains half of a UTF-16 surrogate pair (\\ud800 to \\udfff), which is not a character.",
            field=decode_error.field,
        )
        return ApiError(400, "invalid_json", message, fields={decode_error.field: [message]})
    if isinstance(decode_error, json.JSONDecodeError):
        message = gettext(
            "The request body is not valid JSON: the error is at line %(line)d, column %(column)d.",
            line=decode_error.lineno,
            column=decode_error.colno,
        )
    else:
        message = gettext("The request body is not valid JSON: it is not UTF-8 encoded text.")
    return ApiError(400, "invalid_json", message)


def _validation_failed(exc: HTTPException) -> ApiError:
    data = getattr(exc, "data", None) or {}
    fields = flatten_messages(data.get("messages") or {})
    if not fields:
        return ApiError(422, "validation_failed", gettext("The request contains invalid data."))
    return ApiError(422, "validation_failed", summarize(fields), fields=fields)


def _unsupported_media_type() -> ApiError:
    if request.mimetype:
        message = gettext(
            "The request body must have Content-Type application/json, not %(content_type)s.",
            content_type=request.mimetype[:100],
        )
    else:
        message = gettext("The request body must have Content-Type application/json.")
    return ApiError(415, "unsupported_media_type", message)


def _method_not_allowed(exc: HTTPException) -> ApiError:
    allowed = sorted(getattr(exc, "valid_methods", None) or [])
    message = gettext(
        "The method %(method)s is not allowed on %(path)s. Allowed methods: %(allowed)s.",
        method=request.method,
        path=request.path,
        allowed=", ".join(allowed),
    )
    return ApiError(405, "method_not_allowed", message, headers={"Allow": ", ".join(allowed)})


def _error_code(exc: HTTPException) -> str:
    return re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")


def http_error(exc: HTTPException) -> ApiError:
    """Return the ApiError for an HTTPException raised by werkzeug, webargs or a view."""
    status = exc.code or 500
    if status == 400:
        decode_error = _caused_by_invalid_json(exc)
        if decode_error is not None:
            return _invalid_json(decode_error)
        return ApiError(400, "bad_request", gettext("The request is invalid."))
    if status == 404:
        return ApiError(404, "not_found", gettext("No resource exists at %(path)s.", path=request.path))
    if status == 405:
        return _method_not_allowed(exc)
    if status == 413:
        limit = request.max_content_length
        return ApiError(
            413,
            "payload_too_large",
            gettext("The request body is too large: at most %(limit)s bytes are allowed.", limit=format_number(limit)),
        )
    if status == 415:
        return _unsupported_media_type()
    if status == 422:
        return _validation_failed(exc)
    if status == 500:
        return internal_error()
    return ApiError(
        status,
        _error_code(exc),
        gettext("The request failed with HTTP status %(status)d.", status=status),
    )


def internal_error() -> ApiError:
    return ApiError(
        500,
        "internal_error",
        gettext(
            "An unexpected error occurred. Quote the request id %(request_id)s if you contact support.",
            request_id=get_correlation_id(),
        ),
    )


def rpc_error(exc: Exception) -> ApiError:
    """Return the ApiError for a service call that got no reply."""
    if isinstance(exc, ServiceTimeout):
        message = gettext(
            "The service %(service)s did not respond within %(seconds)s seconds. Try again later.",
            service=exc.service,
            seconds=format_decimal(exc.timeout),
        )
        return ApiError(504, "service_timeout", message)
    if isinstance(exc, ServiceUnavailable):
        message = gettext("The service %(service)s is not available. Try again later.", service=exc.service)
        return ApiError(503, "service_unavailable", message)
    if isinstance(exc, PoolExhausted):
        message = gettext("The gateway has too many calls in progress. Try again shortly.")
        return ApiError(503, "gateway_busy", message)
    if exc.service:
        message = gettext(
            "The message broker cannot be reached, so the service %(service)s cannot be called. Try again later.",
            service=exc.service,
        )
    else:
        message = gettext("The message broker cannot be reached. Try again later.")
    return ApiError(503, "broker_unavailable", message)


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc)


def _handle_http_exception(exc: HTTPException) -> Response:
    return error_response(http_error(exc))


def _handle_rpc_error(exc: Exception) -> Response:
    return error_response(rpc_error(exc))


def _handle_recursion(exc: RecursionError) -> Response:
    # json.loads recurses once per nesting level, so a small body of a
    # thousand open brackets exhausts the stack before any schema sees it.
    if request.content_length or request.is_json:
        message = gettext("The request body is not valid JSON: it is nested too deeply.")
        return error_response(ApiError(400, "invalid_json", message))
    return _handle_unexpected(exc)


def _handle_unexpected(exc: Exception) -> Response:
    # The traceback goes to the log only; the client gets the request id.
    if isinstance(exc, RemoteError):
        log.error(
            "A service raised %s during %s %s: %s", exc.exc_type, request.method, redact_path(request.path), exc.value
        )
    else:
        log.exception("Unhandled error during %s %s", request.method, redact_path(request.path))
    return error_response(internal_error())


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    for rpc_exception in (ServiceTimeout, ServiceUnavailable, PoolExhausted, BrokerUnavailable):
        app.register_error_handler(rpc_exception, _handle_rpc_error)
    app.register_error_handler(RecursionError, _handle_recursion)
    app.register_error_handler(Exception, _handle_unexpected)
