"""The caller of a request: read from the Authorization header, passed to the services.

The services check access on every object, so the gateway only has to tell
them who the caller is. It sends ``Caller.to_context_data()`` in the RPC
context under ``"caller"``.
"""

import re
from dataclasses import dataclass

from flask import Flask, g, request
from flask_babel import gettext

from torget_gateway.errors import ApiError

# RFC 6750, section 2.1: the scheme is case-insensitive and the token is a b64token.
_BEARER = re.compile(r"(?i:bearer) +([A-Za-z0-9\-._~+/]+=*)")


@dataclass(frozen=True)
class Caller:
    """The caller of a request; ``account_id`` is None for an anonymous caller."""

    account_id: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.account_id is None

    def to_context_data(self) -> dict:
        if self.is_anonymous:
            return {"anonymous": True}
        return {"anonymous": False, "account_id": self.account_id}


ANONYMOUS = Caller()


def authenticate_request() -> None:
    """Set the request's caller, or reject a malformed Authorization header with 401."""
    header = request.headers.get("Authorization")
    if header is None:
        g.caller = ANONYMOUS
        return

    if _BEARER.fullmatch(header.strip()) is None:
        raise ApiError(
            401,
            "invalid_authorization_header",
            gettext("The Authorization header must have the form 'Bearer <token>'."),
            headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )

    # TODO: verify the access token against the identity service's JWKS and build the caller from its claims.
    g.caller = ANONYMOUS


def current_caller() -> Caller:
    return g.get("caller", ANONYMOUS)


def init_app(app: Flask) -> None:
    app.before_request(authenticate_request)
