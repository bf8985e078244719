"""HTTP endpoints of the messaging service: guardians' absence notices and what staff see of them.

The messaging service checks the caller on every object. Its rejections
arrive as :class:`MessagingRejection` (code, params, status) and become
responses in the gateway's error format, translated here. A guardian who
requests another guardian's notice gets the same 404 as for an id that
does not exist, so the response does not tell whether the notice exists.
"""

import marshmallow as ma
from flask_babel import gettext
from nameko.exceptions import registry as nameko_exception_registry

from torget_gateway.api import Blueprint
from torget_gateway.errors import ApiError, error_response
from torget_gateway.services import call_service

SERVICE = "messaging"

blueprint = Blueprint(
    "messaging",
    __name__,
    url_prefix="/messaging",
    description="Absence notices to guardians, their acknowledgements and failed deliveries",
)


class MessagingRejection(Exception):
    """A rejection raised by the messaging service, rebuilt from its args by nameko.

    nameko serialises every argument that is not a string, list or dict as
    its ``str()``, so the status arrives as text.
    """

    def __init__(self, code, params=None, status=400):
        super().__init__(code, params, status)
        self.code = code
        self.params = params or {}
        self.status = int(status)


# nameko rebuilds a remote exception from its args when its class path is
# registered. These are the classes of torget_messaging.errors.
for _name in ("MessagingError", "NotFound", "Forbidden", "Unauthenticated", "DirectoryUnavailable"):
    nameko_exception_registry[f"torget_messaging.errors.{_name}"] = MessagingRejection


def _messages() -> dict:
    """Return the message template of each rejection code, translated into the request's language."""
    return {
        "login_required": gettext("Log in to do this."),
        "guardian_role_required": gettext("Only guardians get absence notices."),
        "staff_role_required": gettext("Only staff may see a school unit's absence notices."),
        "no_duty_at_unit": gettext("You have no duty at the school unit %(unit_id)s."),
        # The same words whether the notice does not exist or is another guardian's.
        "notice_not_found": gettext("You have no absence notice with this id."),
        "directory_unavailable": gettext("The school directory is not available. Try again later."),
    }


def rejection_error(rejection: MessagingRejection) -> ApiError:
    template = _messages().get(rejection.code)
    if template is None:
        message = gettext("The messaging service rejected the request (%(code)s).", code=rejection.code)
    else:
        message = template % {key: str(value) for key, value in rejection.params.items()}

    # RFC 9110, section 15.5.2: a 401 response must carry WWW-Authenticate.
    headers = {"WWW-Authenticate": "Bearer"} if rejection.status == 401 else None
    return ApiError(rejection.status, rejection.code, message, headers=headers)


@blueprint.errorhandler(MessagingRejection)
def _handle_rejection(rejection: MessagingRejection):
    return error_response(rejection_error(rejection))


# Request schemas


class GuardianNoticesArgs(ma.Schema):
    limit = ma.fields.Integer(
        load_default=50,
        validate=ma.validate.Range(min=1, max=200),
        metadata={"description": "How many notices to return, newest first"},
    )


class UnitNoticesArgs(ma.Schema):
    local_date = ma.fields.Date(
        metadata={"description": "Only the notices of this local date (Europe/Stockholm); default all, newest first"}
    )


# Response schemas: the fields the messaging service returns, and no others.

LOCAL_DATE = {"format": "date", "description": "Local date of the lesson (Europe/Stockholm)"}
TIMESTAMP = {"format": "date-time"}


class NoticeSchema(ma.Schema):
    notice_id = ma.fields.String(required=True)
    registration_id = ma.fields.String(required=True, metadata={"description": "The attendance registration"})
    child_person_id = ma.fields.String(required=True)
    unit_id = ma.fields.String(required=True, metadata={"description": "The school unit of the lesson"})
    lesson_name = ma.fields.String(allow_none=True)
    local_date = ma.fields.String(allow_none=True, metadata=LOCAL_DATE)
    local_start_time = ma.fields.String(allow_none=True, metadata={"description": "Local start time, HH:MM"})
    local_end_time = ma.fields.String(allow_none=True, metadata={"description": "Local end time, HH:MM"})
    kind = ma.fields.String(required=True, metadata={"description": "absent or late"})
    late_minutes = ma.fields.Integer(allow_none=True, metadata={"description": "Minutes late; only for kind late"})
    state = ma.fields.String(
        required=True, metadata={"description": "active, or withdrawn when the school withdrew the registration"}
    )


class GuardianNoticeSchema(NoticeSchema):
    # TODO: list_my_notices returns no delivery states, so a guardian cannot
    # yet see whether the SMS and e-mail of a notice went out.
    acknowledged_at = ma.fields.String(
        allow_none=True, metadata={**TIMESTAMP, "description": "When the guardian acknowledged it; null until then"}
    )


class AcknowledgementSchema(ma.Schema):
    notice_id = ma.fields.String(required=True)
    acknowledged_at = ma.fields.String(
        required=True, metadata={**TIMESTAMP, "description": "The first acknowledgement; repeating it keeps this time"}
    )


class DeliverySchema(ma.Schema):
    channel = ma.fields.String(required=True, metadata={"description": "sms or email"})
    kind = ma.fields.String(required=True, metadata={"description": "absence_notice or absence_correction"})
    state = ma.fields.String(
        required=True,
        metadata={"description": "pending, sending, sent, unknown, failed, cancelled or skipped"},
    )
    reason = ma.fields.String(
        allow_none=True,
        metadata={"description": "Why it failed, was skipped or cancelled, in English as the service recorded it"},
    )


class NoticeGuardianSchema(ma.Schema):
    guardian_person_id = ma.fields.String(required=True)
    name = ma.fields.String(allow_none=True, metadata={"description": "null for a guardian with protected identity"})
    protected_identity = ma.fields.Boolean(required=True)
    acknowledged_at = ma.fields.String(allow_none=True, metadata=TIMESTAMP)
    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema), required=True)


class UnitNoticeSchema(NoticeSchema):
    guardians = ma.fields.List(ma.fields.Nested(NoticeGuardianSchema), required=True)


class FailedNotificationSchema(ma.Schema):
    delivery_id = ma.fields.String(required=True)
    notice_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "absence_notice or absence_correction"})
    channel = ma.fields.String(required=True, metadata={"description": "sms or email"})
    child_person_id = ma.fields.String(required=True)
    lesson_name = ma.fields.String(allow_none=True)
    local_date = ma.fields.String(allow_none=True, metadata=LOCAL_DATE)
    guardian_person_id = ma.fields.String(required=True)
    guardian_name = ma.fields.String(
        allow_none=True, metadata={"description": "null for a guardian with protected identity"}
    )
    attempts = ma.fields.Integer(required=True)
    reason = ma.fields.String(allow_none=True, metadata={"description": "In English, as the service recorded it"})
    failed_at = ma.fields.String(required=True, metadata=TIMESTAMP)


# Guardians


@blueprint.route("/notices", methods=["GET"])
@blueprint.arguments(GuardianNoticesArgs, location="query")
@blueprint.response(200, GuardianNoticeSchema(many=True))
def list_my_notices(args):
    """List the calling guardian's absence notices, newest first, with whether each is acknowledged."""
    return call_service(SERVICE, "list_my_notices", args["limit"])


@blueprint.route("/notices/<notice_id>/acknowledgement", methods=["POST"])
@blueprint.response(200, AcknowledgementSchema)
def acknowledge_notice(notice_id):
    """Acknowledge ("ta del av") an absence notice. A repeated acknowledgement keeps the first time."""
    return call_service(SERVICE, "acknowledge_notice", notice_id)


# Staff


@blueprint.route("/units/<unit_id>/notices", methods=["GET"])
@blueprint.arguments(UnitNoticesArgs, location="query")
@blueprint.response(200, UnitNoticeSchema(many=True))
def list_unit_notices(args, unit_id):
    """List a school unit's absence notices with each guardian's deliveries and acknowledgement."""
    local_date = args.get("local_date")
    return call_service(SERVICE, "list_unit_notices", unit_id, local_date.isoformat() if local_date else None)


@blueprint.route("/units/<unit_id>/failed-notifications", methods=["GET"])
@blueprint.response(200, FailedNotificationSchema(many=True))
def list_failed_notifications(unit_id):
    """List a school unit's notifications that failed for good, newest first, with the reason."""
    return call_service(SERVICE, "list_failed_notifications", unit_id)


@blueprint.after_request
def _no_store(response):
    # Notices name children and their absence, so they must not stay in shared caches.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response
