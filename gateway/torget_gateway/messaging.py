"""HTTP endpoints of the messaging service: absence notices and announcements, for guardians and staff.

The messaging service checks the caller on every object. Its rejections
arrive as :class:`MessagingRejection` (code, params, status) and become
responses in the gateway's error format, translated here. A guardian who
requests another guardian's notice, or an announcement that does not reach
them, gets the same 404 as for an id that does not exist, so the response
does not tell whether the object exists.
"""

import uuid

import marshmallow as ma
from flask_babel import gettext
from nameko.exceptions import registry as nameko_exception_registry

from torget_gateway.api import Blueprint
from torget_gateway.errors import ApiError, error_response
from torget_gateway.services import call_service
from torget_gateway.validation import N_

SERVICE = "messaging"

blueprint = Blueprint(
    "messaging",
    __name__,
    url_prefix="/messaging",
    description="Absence notices, announcements, conversations between guardians and staff, and feedback to a unit",
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
for _name in (
    "MessagingError",
    "InvalidRequest",
    "NotFound",
    "Forbidden",
    "Conflict",
    "Unauthenticated",
    "DirectoryUnavailable",
):
    nameko_exception_registry[f"torget_messaging.errors.{_name}"] = MessagingRejection


def _messages() -> dict:
    """Return the message template of each rejection code, translated into the request's language."""
    return {
        "login_required": gettext("Log in to do this."),
        "guardian_role_required": gettext("Only guardians get absence notices and announcements."),
        "staff_role_required": gettext("Only staff may do this."),
        "no_duty_at_unit": gettext("You have no duty at the school unit %(unit_id)s."),
        # The same words whether the notice does not exist or is another guardian's.
        "notice_not_found": gettext("You have no absence notice with this id."),
        # The same words whether the announcement does not exist or does not reach the caller.
        "announcement_not_found": gettext("The announcement was not found, or you may not see it."),
        "announcement_id_in_use": gettext(
            "The announcement id %(announcement_id)s is already used by another announcement. Post with a new id."
        ),
        "group_not_found": gettext("The group %(group_id)s was not found."),
        "field_required": gettext("The field %(field)s is missing or empty."),
        "field_too_long": gettext("The field %(field)s is longer than %(max_length)s characters."),
        "personal_identity_number_in_text": gettext(
            "The field %(field)s contains a personal identity number. Remove it and post again."
        ),
        "invalid_audience": gettext("The field %(field)s must be one of: %(allowed)s."),
        "invalid_language": gettext(
            "The language code %(language)s in %(field)s is not valid. Use a code such as en, ar or so."
        ),
        "swedish_translation": gettext(
            "The fields title and body contain the Swedish text, so %(field)s is not needed. Remove it."
        ),
        "invalid_announcement_id": gettext("The field %(field)s must be a UUID."),
        "feature_disabled": gettext("The school unit %(unit_id)s has switched %(feature)s off in Torget."),
        "directory_unavailable": gettext("The school directory is not available. Try again later."),
        # The same words whether the child does not exist or the caller has no relation to it.
        "child_not_found": gettext("The child was not found, or you may not write about the child."),
        # The same words whether the conversation does not exist or the caller does not take part in it.
        "conversation_not_found": gettext("The conversation was not found, or you do not take part in it."),
        "conversation_id_in_use": gettext(
            "The conversation id %(conversation_id)s is already used by another conversation. Start it with a new id."
        ),
        "message_id_in_use": gettext("The message id %(message_id)s is already used by another message. Send it with a new id."),
        "recipient_not_allowed": gettext(
            "%(field)s is not someone you may write to about this child at this school unit."
        ),
        "guardian_recipient_required": gettext("%(field)s must include at least one of the child's guardians."),
        "too_many_recipients": gettext("%(field)s may name at most %(max_count)s people."),
        "unit_not_of_child": gettext("The child is not placed at the school unit %(unit_id)s."),
        "invalid_id": gettext("The field %(field)s must be a UUID."),
        "nul_character": gettext("The field %(field)s must not contain the NUL character (U+0000)."),
        "not_member_of_unit": gettext(
            "You can send feedback only to a school unit where you work or where your child is placed."
        ),
        "administration_duty_required": gettext(
            "Only the principal and the administration of the school unit %(unit_id)s may do this."
        ),
        # The same words whether the feedback does not exist or belongs to another unit.
        "feedback_not_found": gettext("The feedback was not found, or you may not answer it."),
        "feedback_id_in_use": gettext("The feedback id %(feedback_id)s is already used. Send it with a new id."),
        "answer_id_in_use": gettext("The answer id %(answer_id)s is already used. Answer with a new id."),
        "invalid_choice": gettext("The field %(field)s must be one of: %(allowed)s."),
        "invalid_boolean": gettext("The field %(field)s must be true or false."),
    }


def _feature_names() -> dict:
    """Return the translated name of each school unit feature that the messaging service checks."""
    return {"announcements": gettext("announcements"), "conversations": gettext("conversations")}


def rejection_error(rejection: MessagingRejection) -> ApiError:
    template = _messages().get(rejection.code)
    if template is None:
        message = gettext("The messaging service rejected the request (%(code)s).", code=rejection.code)
    else:
        values = {key: str(value) for key, value in rejection.params.items()}
        if "feature" in values:
            values["feature"] = _feature_names().get(values["feature"], values["feature"])
        message = template % values

    # An invalid value is named under "fields", as a 422 of the request schemas is.
    field = rejection.params.get("field")
    fields = {str(field): [message]} if field and rejection.status == 422 else None

    # RFC 9110, section 15.5.2: a 401 response must carry WWW-Authenticate.
    headers = {"WWW-Authenticate": "Bearer"} if rejection.status == 401 else None
    return ApiError(rejection.status, rejection.code, message, fields=fields, headers=headers)


@blueprint.errorhandler(MessagingRejection)
def _handle_rejection(rejection: MessagingRejection):
    return error_response(rejection_error(rejection))


# Request schemas


def _limit_field(items: str) -> ma.fields.Integer:
    return ma.fields.Integer(
        load_default=50,
        validate=ma.validate.Range(min=1, max=200),
        metadata={"description": f"How many {items} to return, newest first"},
    )


class GuardianNoticesArgs(ma.Schema):
    limit = _limit_field("notices")


class GuardianAnnouncementsArgs(ma.Schema):
    limit = _limit_field("announcements")


class UnitNoticesArgs(ma.Schema):
    local_date = ma.fields.Date(
        metadata={"description": "Only the notices of this local date (Europe/Stockholm); default all, newest first"}
    )


AUDIENCES = ("unit", "group", "group_guardians")
GROUP_AUDIENCES = ("group", "group_guardians")
REQUIRED_MESSAGE = N_("Missing data for required field.")
NUL_MESSAGE = N_("Must not contain the NUL character (U+0000).")


def _reject_nul(text: str) -> None:
    # PostgreSQL cannot store U+0000 in a text column, so the service would fail with a 500.
    if "\x00" in text:
        raise ma.ValidationError(NUL_MESSAGE)


class AnnouncementTextSchema(ma.Schema):
    title = ma.fields.String(required=True, validate=_reject_nul, metadata={"description": "At most 200 characters"})
    body = ma.fields.String(
        required=True, validate=_reject_nul, metadata={"description": "At most 10,000 characters"}
    )


class Translations(ma.fields.Dict):
    """Translations by language code, whose errors are named ``translations.<language>.<field>``.

    marshmallow's Dict files a value's errors one level deeper, under
    ``value``. This field drops that level, so the gateway names a field as
    the messaging service does.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ma.ValidationError as error:
            if not isinstance(error.messages, dict):
                raise
            messages = {language: errors.get("value", errors) for language, errors in error.messages.items()}
            raise ma.ValidationError(messages, valid_data=error.valid_data) from None


class NewAnnouncementSchema(ma.Schema):
    audience = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(AUDIENCES),
        metadata={
            "description": "unit: the guardians of every child at the school unit; group or group_guardians: "
            "the guardians of the group's members"
        },
    )
    group_id = ma.fields.String(
        allow_none=True, metadata={"description": "The group; required for the audiences group and group_guardians"}
    )
    title = ma.fields.String(
        required=True, validate=_reject_nul, metadata={"description": "The Swedish title, at most 200 characters"}
    )
    body = ma.fields.String(
        required=True, validate=_reject_nul, metadata={"description": "The Swedish text, at most 10,000 characters"}
    )
    translations = Translations(
        keys=ma.fields.String(),
        values=ma.fields.Nested(AnnouncementTextSchema),
        load_default=dict,
        metadata={"description": "Title and body by language code other than sv, e.g. en, ar, so"},
    )
    announcement_id = ma.fields.UUID(
        metadata={
            "description": "An id chosen by the client; a repeated post with the same id returns the first "
            "announcement and sends no second e-mail"
        }
    )

    @ma.validates_schema
    def _require_group_for_group_audiences(self, data, **kwargs):
        if data["audience"] in GROUP_AUDIENCES and not data.get("group_id"):
            raise ma.ValidationError(REQUIRED_MESSAGE, "group_id")


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


class AnnouncementSummarySchema(ma.Schema):
    announcement_id = ma.fields.String(required=True)
    unit_id = ma.fields.String(required=True, metadata={"description": "The school unit that posted it"})
    audience = ma.fields.String(required=True, metadata={"description": "unit, group or group_guardians"})
    group_id = ma.fields.String(allow_none=True, metadata={"description": "null for the audience unit"})
    published_at = ma.fields.String(required=True, metadata=TIMESTAMP)


class GuardianAnnouncementSchema(AnnouncementSummarySchema):
    title = ma.fields.String(required=True, metadata={"description": "In the guardian's language, or Swedish"})
    body = ma.fields.String(required=True, metadata={"description": "In the guardian's language, or Swedish"})
    language = ma.fields.String(
        required=True, metadata={"description": "The language of title and body: the guardian's, or sv without a translation"}
    )
    read_at = ma.fields.String(
        allow_none=True, metadata={**TIMESTAMP, "description": "When the guardian marked it read; null until then"}
    )


class AnnouncementReadSchema(ma.Schema):
    announcement_id = ma.fields.String(required=True)
    read_at = ma.fields.String(
        required=True, metadata={**TIMESTAMP, "description": "The first marking; repeating it keeps this time"}
    )


class UnitAnnouncementSchema(AnnouncementSummarySchema):
    author_person_id = ma.fields.String(required=True, metadata={"description": "The staff member who posted it"})
    title = ma.fields.String(required=True, metadata={"description": "The Swedish title"})
    body = ma.fields.String(required=True, metadata={"description": "The Swedish text"})
    translations = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(AnnouncementTextSchema), required=True
    )
    read_count = ma.fields.Integer(required=True, metadata={"description": "How many guardians marked it read"})


class AnnouncementReaderSchema(ma.Schema):
    guardian_person_id = ma.fields.String(required=True)
    name = ma.fields.String(allow_none=True, metadata={"description": "null for a guardian with protected identity"})
    protected_identity = ma.fields.Boolean(required=True)
    read_at = ma.fields.String(required=True, metadata=TIMESTAMP)


class AnnouncementReadsSchema(ma.Schema):
    announcement_id = ma.fields.String(required=True)
    read_count = ma.fields.Integer(required=True)
    readers = ma.fields.List(
        ma.fields.Nested(AnnouncementReaderSchema), required=True, metadata={"description": "The first reader first"}
    )


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


def _optional_id(value: uuid.UUID | None) -> str | None:
    """Return a client-chosen id as the string the service takes, or None when the client chose none."""
    return str(value) if value else None


def _announcement_uuid(announcement_id: str) -> str:
    """Return the id in the canonical UUID form that the service stores, or raise the service's 404 for any other id."""
    try:
        return str(uuid.UUID(announcement_id))
    except ValueError:
        raise MessagingRejection("announcement_not_found", {"announcement_id": announcement_id}, 404) from None


@blueprint.route("/announcements", methods=["GET"])
@blueprint.arguments(GuardianAnnouncementsArgs, location="query")
@blueprint.response(200, GuardianAnnouncementSchema(many=True))
def list_my_announcements(args):
    """List the announcements that reach the calling guardian, newest first, in their language or Swedish."""
    return call_service(SERVICE, "list_my_announcements", args["limit"])


@blueprint.route("/announcements/<announcement_id>/read", methods=["POST"])
@blueprint.response(200, AnnouncementReadSchema)
def mark_announcement_read(announcement_id):
    """Mark an announcement read. A repeated marking keeps the first time."""
    return call_service(SERVICE, "mark_announcement_read", _announcement_uuid(announcement_id))


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


@blueprint.route("/units/<unit_id>/announcements", methods=["POST"])
@blueprint.arguments(NewAnnouncementSchema)
@blueprint.response(201, UnitAnnouncementSchema)
def post_announcement(announcement, unit_id):
    """Post an announcement to a school unit, a group or a group's guardians, and e-mail the guardians.

    A client that repeats a post, for example after a timeout, sends the
    same announcement_id and gets the first announcement back.
    """
    return call_service(
        SERVICE,
        "post_announcement",
        unit_id,
        announcement["audience"],
        announcement["title"],
        announcement["body"],
        group_id=announcement.get("group_id"),
        translations=announcement["translations"],
        announcement_id=_optional_id(announcement.get("announcement_id")),
    )


@blueprint.route("/units/<unit_id>/announcements", methods=["GET"])
@blueprint.response(200, UnitAnnouncementSchema(many=True))
def list_unit_announcements(unit_id):
    """List a school unit's announcements, newest first, with their translations and read counts."""
    return call_service(SERVICE, "list_unit_announcements", unit_id)


@blueprint.route("/announcements/<announcement_id>/reads", methods=["GET"])
@blueprint.response(200, AnnouncementReadsSchema)
def list_announcement_reads(announcement_id):
    """List the guardians who marked an announcement read, and when. Only staff of its school unit may."""
    return call_service(SERVICE, "list_announcement_reads", _announcement_uuid(announcement_id))


# Conversations and feedback

SUBJECT = {"description": "At most 200 characters"}
BODY = {"description": "At most 10,000 characters"}


class NewConversationSchema(ma.Schema):
    child_person_id = ma.fields.String(required=True, validate=_reject_nul, metadata={"description": "The child the conversation is about"})
    unit_id = ma.fields.String(
        required=True, validate=_reject_nul, metadata={"description": "A school unit where the child is placed"}
    )
    subject = ma.fields.String(required=True, validate=_reject_nul, metadata=SUBJECT)
    body = ma.fields.String(required=True, validate=_reject_nul, metadata={"description": "The first message; " + BODY["description"]})
    recipient_person_ids = ma.fields.List(
        ma.fields.String(validate=_reject_nul),
        required=True,
        metadata={
            "description": "Guardians write to staff of the unit; staff write to at least one of the child's "
            "guardians and may add colleagues. See conversation-contacts."
        },
    )
    conversation_id = ma.fields.UUID(
        metadata={"description": "An id chosen by the client; a repeated start with the same id and content returns the first conversation, other content gets 409"}
    )


class NewMessageSchema(ma.Schema):
    body = ma.fields.String(required=True, validate=_reject_nul, metadata=BODY)
    message_id = ma.fields.UUID(
        metadata={"description": "An id chosen by the client; a repeated send with the same id and body adds no second message, another body gets 409"}
    )


class ConversationListArgs(ma.Schema):
    limit = ma.fields.Integer(
        load_default=50,
        validate=ma.validate.Range(min=1, max=200),
        metadata={"description": "How many conversations to return, the most recently active first"},
    )


class FeedbackListArgs(ma.Schema):
    limit = _limit_field("feedback items")


class ParticipantSchema(ma.Schema):
    person_id = ma.fields.String(
        allow_none=True, metadata={"description": "null when a guardian looks at a participant with protected identity"}
    )
    role = ma.fields.String(required=True, metadata={"description": "guardian or staff"})
    name = ma.fields.String(allow_none=True, metadata={"description": "null for a participant with protected identity"})
    protected_identity = ma.fields.Boolean(required=True)
    is_me = ma.fields.Boolean(required=True)


class ConversationSummarySchema(ma.Schema):
    conversation_id = ma.fields.String(required=True)
    child_person_id = ma.fields.String(required=True)
    unit_id = ma.fields.String(required=True)
    subject = ma.fields.String(required=True)
    created_at = ma.fields.String(required=True, metadata=TIMESTAMP)
    last_message_at = ma.fields.String(required=True, metadata=TIMESTAMP)
    message_count = ma.fields.Integer(required=True)
    unread_count = ma.fields.Integer(required=True, metadata={"description": "Messages by others not yet marked read"})
    my_role = ma.fields.String(required=True, metadata={"description": "guardian or staff: how the caller takes part"})
    participants = ma.fields.List(ma.fields.Nested(ParticipantSchema), required=True)


class ConversationListSchema(ma.Schema):
    unread_conversations = ma.fields.Integer(required=True)
    unread_messages = ma.fields.Integer(required=True)
    conversations = ma.fields.List(ma.fields.Nested(ConversationSummarySchema), required=True)


class ConversationMessageSchema(ma.Schema):
    message_id = ma.fields.String(required=True)
    seq = ma.fields.Integer(required=True, metadata={"description": "The message's number in the conversation, from 1"})
    author = ma.fields.Nested(ParticipantSchema, required=True)
    body = ma.fields.String(required=True)
    sent_at = ma.fields.String(required=True, metadata=TIMESTAMP)
    read = ma.fields.Boolean(required=True, metadata={"description": "Whether the caller has marked it read"})


class ConversationSchema(ConversationSummarySchema):
    messages = ma.fields.List(
        ma.fields.Nested(ConversationMessageSchema), required=True, metadata={"description": "The latest 500, oldest first"}
    )


class SentMessageSchema(ma.Schema):
    message_id = ma.fields.String(required=True)
    conversation_id = ma.fields.String(required=True)
    seq = ma.fields.Integer(required=True)
    author_person_id = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    sent_at = ma.fields.String(required=True, metadata=TIMESTAMP)


class ConversationReadSchema(ma.Schema):
    conversation_id = ma.fields.String(required=True)
    unread_count = ma.fields.Integer(required=True)
    last_read_seq = ma.fields.Integer(required=True)


class ContactStaffSchema(ma.Schema):
    person_id = ma.fields.String(required=True)
    name = ma.fields.String(allow_none=True)
    duty_roles = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "SS 12000 duty roles"})


class ContactUnitSchema(ma.Schema):
    unit_id = ma.fields.String(required=True)
    staff = ma.fields.List(ma.fields.Nested(ContactStaffSchema), required=True)


class ContactGuardianSchema(ma.Schema):
    person_id = ma.fields.String(required=True)
    name = ma.fields.String(allow_none=True, metadata={"description": "null for a guardian with protected identity"})
    protected_identity = ma.fields.Boolean(required=True)


class ConversationContactsSchema(ma.Schema):
    child_person_id = ma.fields.String(required=True)
    units = ma.fields.List(
        ma.fields.Nested(ContactUnitSchema),
        required=True,
        metadata={"description": "The child's units that use conversations, with their staff (not those with protected identity)"},
    )
    guardians = ma.fields.List(
        ma.fields.Nested(ContactGuardianSchema),
        required=True,
        metadata={"description": "The child's guardians with custody; only for staff, empty for guardians"},
    )


FEEDBACK_KINDS = ("suggestion", "complaint", "other")


class NewFeedbackSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(FEEDBACK_KINDS), metadata={"description": "suggestion, complaint or other"})
    subject = ma.fields.String(required=True, validate=_reject_nul, metadata=SUBJECT)
    body = ma.fields.String(required=True, validate=_reject_nul, metadata=BODY)
    anonymous = ma.fields.Boolean(
        truthy={True},
        falsy={False},
        load_default=False, metadata={"description": "Hide the sender from the administration; the sender still gets the answer"}
    )
    feedback_id = ma.fields.UUID(metadata={"description": "An id chosen by the client; a repeated send with the same content stores nothing new, other content gets 409"})


class NewFeedbackAnswerSchema(ma.Schema):
    body = ma.fields.String(required=True, validate=_reject_nul, metadata=BODY)
    answer_id = ma.fields.UUID(metadata={"description": "An id chosen by the client; a repeated answer with the same body stores nothing new, another body gets 409"})


class UnitFeedbackArgs(ma.Schema):
    state = ma.fields.String(
        validate=ma.validate.OneOf(("received", "answered")), metadata={"description": "Only feedback in this state"}
    )


class FeedbackAnswerSchema(ma.Schema):
    answer_id = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    answered_at = ma.fields.String(required=True, metadata=TIMESTAMP)
    author_name = ma.fields.String(allow_none=True)


class FeedbackSchema(ma.Schema):
    feedback_id = ma.fields.String(required=True)
    unit_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    subject = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    anonymous = ma.fields.Boolean(required=True)
    state = ma.fields.String(required=True, metadata={"description": "received or answered"})
    created_at = ma.fields.String(required=True, metadata=TIMESTAMP)
    answered_at = ma.fields.String(allow_none=True, metadata=TIMESTAMP)
    answers = ma.fields.List(ma.fields.Nested(FeedbackAnswerSchema), required=True)


class FeedbackAuthorSchema(ma.Schema):
    person_id = ma.fields.String(allow_none=True, metadata={"description": "null for anonymous feedback"})
    role = ma.fields.String(allow_none=True, metadata={"description": "guardian or staff; null for anonymous feedback"})
    name = ma.fields.String(allow_none=True)


class UnitFeedbackSchema(FeedbackSchema):
    author = ma.fields.Nested(FeedbackAuthorSchema, required=True)


@blueprint.route("/children/<child_person_id>/conversation-contacts", methods=["GET"])
@blueprint.response(200, ConversationContactsSchema)
def list_conversation_contacts(child_person_id):
    """List whom the caller may write to about a child: staff of the child's units and, for staff, its guardians."""
    return call_service(SERVICE, "list_conversation_contacts", child_person_id)


@blueprint.route("/conversations", methods=["POST"])
@blueprint.arguments(NewConversationSchema)
@blueprint.response(201, ConversationSchema)
def start_conversation(opening):
    """Start a conversation about a child. Guardians write to staff of the child's unit, staff to the child's guardians.

    The guardians who take part get an e-mail that names the conversation
    but does not carry the message.
    """
    return call_service(
        SERVICE,
        "start_conversation",
        opening["child_person_id"],
        opening["unit_id"],
        opening["subject"],
        opening["body"],
        opening["recipient_person_ids"],
        conversation_id=_optional_id(opening.get("conversation_id")),
    )


@blueprint.route("/conversations", methods=["GET"])
@blueprint.arguments(ConversationListArgs, location="query")
@blueprint.response(200, ConversationListSchema)
def list_my_conversations(args):
    """List the caller's conversations, the most recently active first, with unread counts."""
    return call_service(SERVICE, "list_my_conversations", args["limit"])


@blueprint.route("/conversations/<conversation_id>", methods=["GET"])
@blueprint.response(200, ConversationSchema)
def get_conversation(conversation_id):
    """Read a conversation and its messages. Reading does not mark them read; POST .../read does."""
    return call_service(SERVICE, "get_conversation", conversation_id)


@blueprint.route("/conversations/<conversation_id>/messages", methods=["POST"])
@blueprint.arguments(NewMessageSchema)
@blueprint.response(201, SentMessageSchema)
def reply_to_conversation(message, conversation_id):
    """Write a message in a conversation the caller takes part in."""
    return call_service(
        SERVICE, "reply_to_conversation", conversation_id, message["body"], message_id=_optional_id(message.get("message_id"))
    )


@blueprint.route("/conversations/<conversation_id>/read", methods=["POST"])
@blueprint.response(200, ConversationReadSchema)
def mark_conversation_read(conversation_id):
    """Mark every message of a conversation read."""
    return call_service(SERVICE, "mark_conversation_read", conversation_id)


@blueprint.route("/units/<unit_id>/feedback", methods=["POST"])
@blueprint.arguments(NewFeedbackSchema)
@blueprint.response(201, FeedbackSchema)
def send_feedback(feedback, unit_id):
    """Send a suggestion or complaint to the administration of a school unit where the caller works or has a child."""
    return call_service(
        SERVICE,
        "send_feedback",
        unit_id,
        feedback["kind"],
        feedback["subject"],
        feedback["body"],
        anonymous=feedback["anonymous"],
        feedback_id=_optional_id(feedback.get("feedback_id")),
    )


@blueprint.route("/units/<unit_id>/feedback", methods=["GET"])
@blueprint.arguments(UnitFeedbackArgs, location="query")
@blueprint.response(200, UnitFeedbackSchema(many=True))
def list_unit_feedback(args, unit_id):
    """List a school unit's feedback, newest first; for its principal and administration."""
    return call_service(SERVICE, "list_unit_feedback", unit_id, args.get("state"))


@blueprint.route("/feedback", methods=["GET"])
@blueprint.arguments(FeedbackListArgs, location="query")
@blueprint.response(200, FeedbackSchema(many=True))
def list_my_feedback(args):
    """List the feedback the caller sent, newest first, with the answers."""
    return call_service(SERVICE, "list_my_feedback", args["limit"])


@blueprint.route("/feedback/<feedback_id>/answers", methods=["POST"])
@blueprint.arguments(NewFeedbackAnswerSchema)
@blueprint.response(201, UnitFeedbackSchema)
def answer_feedback(answer, feedback_id):
    """Answer feedback sent to a school unit where the caller is in the administration, and e-mail the sender a link."""
    return call_service(
        SERVICE, "answer_feedback", feedback_id, answer["body"], answer_id=_optional_id(answer.get("answer_id"))
    )


@blueprint.after_request
def _no_store(response):
    # Notices name children and their absence, announcements and reads name
    # groups and guardians, and conversations and feedback carry what families
    # and staff write, so none of them may stay in shared caches.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response
