"""The failures the identity service reports to its callers.

Each failure has a stable ``code``, the HTTP ``status`` the gateway answers
with, and ``params`` that the gateway puts into its translated message. nameko
sends an exception to the caller as its type name and ``str(exc)``, so
``str()`` of an IdentityError is a JSON object that the gateway parses.
"""

import json


class IdentityError(Exception):
    """A request that the identity service rejects; no change was made."""

    status = 400
    # True when the failure's changes must be committed anyway, e.g. a
    # counted wrong activation code or a session revoked for token reuse.
    keep_changes = False

    def __init__(self, code: str, status: int | None = None, **params):
        super().__init__(code)
        self.code = code
        if status is not None:
            self.status = status
        self.params = params

    def __str__(self) -> str:
        return json.dumps({"code": self.code, "status": self.status, "params": self.params}, default=str)

    def to_dict(self) -> dict:
        return json.loads(str(self))


def parse_remote_error(value: str) -> dict | None:
    """Return ``{"code", "status", "params"}`` from the value of a remote IdentityError, or None."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or "code" not in data or "status" not in data:
        return None
    return data


class InvalidRequest(IdentityError):
    status = 422


class Unauthenticated(IdentityError):
    status = 401


class Forbidden(IdentityError):
    status = 403


class NotFound(IdentityError):
    status = 404


class Conflict(IdentityError):
    status = 409


class Gone(IdentityError):
    status = 410


class Unavailable(IdentityError):
    status = 503
