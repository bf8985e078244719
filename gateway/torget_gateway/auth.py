"""The caller of a request: read from the Authorization header, passed to the services.

The services check access on every object, so the gateway only has to tell
them who the caller is. A bearer token is verified against the identity
service's JWKS (see torget_gateway.tokens) and its claims become the caller,
which the gateway sends as ``Caller.to_context()`` in the RPC context under
``"caller"``. A request without a token has an anonymous caller that carries
the request's language.
"""

import logging
import re

from flask import Flask, current_app, g, request
from flask_babel import format_date, get_locale, gettext
from nameko.exceptions import RemoteError

from torget_gateway.errors import ApiError
from torget_gateway.rpc import RpcError
from torget_gateway.tokens import TokenRejected, TokenVerifier
from torget_shared.caller import ACCOUNT, Caller

log = logging.getLogger(__name__)

# RFC 6750, section 2.1: the scheme is case-insensitive and the token is a b64token.
_BEARER = re.compile(r"(?i:bearer) +([A-Za-z0-9\-._~+/]+=*)")

VERIFIER_EXTENSION = "torget_token_verifier"


def _anonymous() -> Caller:
    return Caller(language=str(get_locale()))


def role_label(role: str) -> str:
    labels = {
        "guardian": gettext("guardians"),
        "pupil": gettext("pupils"),
        "staff": gettext("staff"),
    }
    return labels.get(role, role)


def access_ended_message(role: str, cutoff_date: str) -> str:
    from datetime import date

    return gettext(
        "Access to Torget for %(role)s ended on %(date)s. Contact the school if you need information.",
        role=role_label(role),
        date=format_date(date.fromisoformat(cutoff_date), format="long"),
    )


def _token_error(rejection: TokenRejected) -> ApiError:
    if rejection.code == "token_expired":
        message = gettext("The access token has expired. Refresh it or log in again.")
    elif rejection.code == "session_ended":
        message = gettext("The session has ended. Log in again.")
    elif rejection.code == "access_ended":
        return ApiError(403, "access_ended", access_ended_message(rejection.params["role"], rejection.params["date"]))
    else:
        message = gettext("The access token is not valid. Log in again.")
    return ApiError(
        401, rejection.code, message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


def _fetch_from_identity(method: str):
    from torget_gateway.services import rpc_pool

    context = {"caller": Caller().to_context(), "calling_service": "gateway"}
    return rpc_pool().call("identity", method, context_data=context)


def token_verifier() -> TokenVerifier:
    return current_app.extensions[VERIFIER_EXTENSION]


def authenticate_request() -> None:
    """Reject a malformed Authorization header with 401 and keep a well-formed bearer token for verification.

    The token is verified when the request first needs its caller (see
    :func:`current_caller`), so routes that call no service, such as the
    health probes, never fetch the JWKS.
    """
    header = request.headers.get("Authorization")
    if header is None:
        g.caller = _anonymous()
        return

    match = _BEARER.fullmatch(header.strip())
    if match is None:
        raise ApiError(
            401,
            "invalid_authorization_header",
            gettext("The Authorization header must have the form 'Bearer <token>'."),
            headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )
    g.bearer_token = match.group(1)


def _verified_caller() -> Caller:
    """Verify the request's bearer token and return its caller; raise ApiError for a token that fails."""
    try:
        verified = token_verifier().verify(g.bearer_token)
    except TokenRejected as rejection:
        raise _token_error(rejection) from None
    except (RpcError, RemoteError) as exc:
        log.warning("tokens cannot be verified: identity did not return its keys (%s)", type(exc).__name__)
        raise ApiError(
            503, "token_verification_unavailable", gettext("Logins cannot be checked right now. Try again later.")
        ) from exc

    g.session_id = verified.session_id
    return Caller(
        kind=ACCOUNT,
        account_id=verified.account_id,
        person_id=verified.person_id,
        roles=verified.roles,
        assurance=verified.assurance,
        language=str(get_locale()),
    )


def current_caller() -> Caller:
    """Return the caller of the current request: verified from its bearer token, else anonymous."""
    caller = g.get("caller")
    if caller is None and g.get("bearer_token") is not None:
        caller = g.caller = _verified_caller()
    return caller if caller is not None else _anonymous()


def current_session_id() -> str | None:
    """Return the session id of the request's verified access token, if it has one."""
    current_caller()
    return g.get("session_id")


def init_app(app: Flask) -> None:
    app.extensions[VERIFIER_EXTENSION] = TokenVerifier(
        _fetch_from_identity,
        jwks_ttl=float(app.config.get("JWKS_TTL", 300.0)),
        policy_ttl=float(app.config.get("TOKEN_POLICY_TTL", 10.0)),
    )
    app.before_request(authenticate_request)
