"""The caller of a request: read from the Authorization header, passed to the services.

The services check access on every object, so the gateway only has to tell
them who the caller is. It sends ``Caller.to_context()`` in the RPC context
under ``"caller"``. An anonymous caller carries the request's language.
"""

import re

from flask import Flask, g, request
from flask_babel import get_locale, gettext

from torget_gateway.errors import ApiError
from torget_shared.caller import Caller

# RFC 6750, section 2.1: the scheme is case-insensitive and the token is a b64token.
_BEARER = re.compile(r"(?i:bearer) +([A-Za-z0-9\-._~+/]+=*)")


def _anonymous() -> Caller:
    return Caller(language=str(get_locale()))


def authenticate_request() -> None:
    """Set the request's caller, or reject a malformed Authorization header with 401."""
    header = request.headers.get("Authorization")
    if header is None:
        g.caller = _anonymous()
        return

    if _BEARER.fullmatch(header.strip()) is None:
        raise ApiError(
            401,
            "invalid_authorization_header",
            gettext("The Authorization header must have the form 'Bearer <token>'."),
            headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )

    # TODO: verify the access token against the identity service's JWKS and build the caller from its claims.
    g.caller = _anonymous()


def current_caller() -> Caller:
    """Return the caller of the current request, anonymous until a token is verified."""
    caller = g.get("caller")
    return caller if caller is not None else _anonymous()


def init_app(app: Flask) -> None:
    app.before_request(authenticate_request)
