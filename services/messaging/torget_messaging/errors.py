"""The rejections the messaging service raises to its callers.

Each carries a stable error code, the HTTP status the gateway should respond
with and the values its message needs; the gateway writes the sentence in
the caller's language. nameko rebuilds an exception from its ``args`` on the
calling side, so every subclass keeps the same three arguments there.
"""


class MessagingError(Exception):
    """A request the messaging service rejects."""

    status = 400

    def __init__(self, code: str, params: dict | None = None, status: int | None = None):
        status = self.status if status is None else status
        super().__init__(code, dict(params or {}), status)
        self.code = code
        self.params = dict(params or {})
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.params}" if self.params else self.code


class NotFound(MessagingError):
    """The object does not exist, or the caller may not know that it does."""

    status = 404


class Forbidden(MessagingError):
    """The caller is known but may not do this."""

    status = 403


class Unauthenticated(MessagingError):
    """The request has no logged-in caller."""

    status = 401


class DirectoryUnavailable(MessagingError):
    """The school directory did not answer a question about the caller's duties."""

    status = 503


class InvalidRequest(MessagingError):
    """The request's values are invalid; ``params`` names the field and what is wrong."""

    status = 422


class Conflict(MessagingError):
    """The request collides with an existing object, e.g. an id already used for another one."""

    status = 409
