"""The rejections the attendance service raises to its callers.

Each carries an HTTP status, a stable error code, the request field it
concerns (dotted, for example ``marks.2.late_minutes``) and the values its
message needs. The service never formats a user-facing sentence: the gateway
translates the code into Swedish or English. All subclasses take the same
four arguments in ``args``, because nameko rebuilds a registered exception
from its ``args`` on the calling side.
"""


class AttendanceError(Exception):
    """A request the attendance service rejects."""

    status = 400

    def __init__(self, code: str, field: str | None = None, params: dict | None = None, status: int | None = None):
        status = self.status if status is None else status
        super().__init__(code, field, dict(params or {}), status)
        self.code = code
        self.field = field
        self.params = dict(params or {})
        self.status = status

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.code}{where}: {self.params}" if self.params else f"{self.code}{where}"


class InvalidRequest(AttendanceError):
    """A value in the request is invalid; nothing was stored."""

    status = 422


class NotFound(AttendanceError):
    """The object does not exist, or the caller may not know that it does."""

    status = 404


class Forbidden(AttendanceError):
    """The caller is known but may not do this."""

    status = 403


class Conflict(AttendanceError):
    """The request clashes with stored data, such as an overlapping absence report."""

    status = 409


class FeatureDisabled(AttendanceError):
    """The school unit has switched the feature off."""

    status = 403


class NotAuthenticated(AttendanceError):
    """The request carries no logged-in person."""

    status = 401


class DirectoryUnavailable(AttendanceError):
    """The school directory did not answer and no earlier answer is stored."""

    status = 503


ERROR_CLASSES = (
    AttendanceError,
    InvalidRequest,
    NotFound,
    Forbidden,
    Conflict,
    FeatureDisabled,
    NotAuthenticated,
    DirectoryUnavailable,
)
