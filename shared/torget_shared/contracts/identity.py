"""Events published by the identity service.

No payload carries a personal identity number. ``person_id`` is the school
directory's id of the person, absent for an account the directory does not
know.
"""

from marshmallow import Schema, fields, validate

from torget_shared.events import registry

LANGUAGE = validate.Length(min=2, max=8)


@registry.register("account_created", 1)
class AccountCreated(Schema):
    """A new account: a guardian or staff member after BankID, or one that staff created."""

    account_id = fields.String(required=True)
    person_id = fields.String(allow_none=True, load_default=None)
    roles = fields.List(fields.String(), required=True)
    # "bankid", or "password" for an account that staff created.
    login_method = fields.String(required=True, validate=validate.OneOf(["bankid", "password"]))
    protected_identity = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)


class NoticePreferences(Schema):
    sms = fields.Boolean(required=True)
    email = fields.Boolean(required=True)


@registry.register("contact_details_changed", 1)
class ContactDetailsChanged(Schema):
    """The contact details of an account after a change, in full, for messaging's read model.

    ``email`` is the verified address only; an address waiting for
    verification is not in it. ``mobile`` is in E.164 form.
    """

    account_id = fields.String(required=True)
    person_id = fields.String(allow_none=True, load_default=None)
    email = fields.String(allow_none=True, required=True)
    mobile = fields.String(allow_none=True, required=True, validate=validate.Regexp(r"^\+[1-9]\d{6,14}$"))
    language = fields.String(required=True, validate=LANGUAGE)
    preferences = fields.Nested(NoticePreferences, required=True)
    protected_identity = fields.Boolean(required=True)
    changed_at = fields.AwareDateTime(required=True)


@registry.register("email_verification_requested", 1)
class EmailVerificationRequested(Schema):
    """A message with a verification link should go to an address an account registered.

    ``verification_url`` carries the one-time token, so a consumer keeps it
    out of its logs.
    """

    account_id = fields.String(required=True)
    email = fields.String(required=True)
    language = fields.String(required=True, validate=LANGUAGE)
    verification_url = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)


@registry.register("account_disabled", 1)
class AccountDisabled(Schema):
    """An account was disabled and all its sessions ended."""

    account_id = fields.String(required=True)
    person_id = fields.String(allow_none=True, load_default=None)
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    disabled_at = fields.AwareDateTime(required=True)
