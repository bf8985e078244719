"""Events published by the messaging service.

One event per delivery (one recipient, one channel) that reached its final
state. Payloads carry ids and the channel, never an address or the text of
the message: a consumer that needs more asks the messaging service.
"""

from marshmallow import Schema, fields, validate

from torget_shared.events import registry

CHANNELS = ("sms", "email")
# absence_notice and absence_correction go to guardians; email_verification
# goes to the address an account registered.
NOTIFICATION_KINDS = ("absence_notice", "absence_correction", "email_verification", "announcement_notice")


class NotificationV1(Schema):
    delivery_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_KINDS))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    # The event that asked for the notification, e.g. an absence_registered event.
    source_event_id = fields.UUID(required=True)
    # The guardian's person id, or for email_verification the account id.
    recipient = fields.String(required=True, validate=validate.Length(min=1, max=64))
    notice_id = fields.UUID(allow_none=True, load_default=None)
    child_person_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    unit_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    attempts = fields.Integer(required=True, validate=validate.Range(min=0))


@registry.register("notification_delivered", 1)
class NotificationDeliveredV1(NotificationV1):
    """The provider accepted a notification (SMS API or SMTP server)."""

    provider_message_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=128))
    sms_segments = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1))
    delivered_at = fields.AwareDateTime(required=True)


@registry.register("notification_failed", 1)
class NotificationFailedV1(NotificationV1):
    """A notification could not be delivered after its last attempt, or was rejected for good."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    failed_at = fields.AwareDateTime(required=True)
