"""Events published by the attendance service.

Payloads carry ids, local school dates and times in Europe/Stockholm, and
nothing else about the child: consumers look names and guardians up in their
own read models. No personal identity number is ever part of a payload.
"""

from marshmallow import Schema, fields, validate

from torget_shared.events import registry

ABSENCE_KINDS = ("absent", "late")


@registry.register("absence_registered", 1)
class AbsenceRegistered(Schema):
    """A teacher marked a pupil absent or late, and no guardian report covers it."""

    registration_id = fields.UUID(required=True)
    child_person_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    unit_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lesson_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lesson_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    local_date = fields.Date(required=True)
    local_start_time = fields.Time(required=True)
    local_end_time = fields.Time(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ABSENCE_KINDS))
    late_minutes = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=600))


@registry.register("absence_registration_withdrawn", 1)
class AbsenceRegistrationWithdrawn(Schema):
    """A teacher's correction removed an absence or late mark published earlier."""

    registration_id = fields.UUID(required=True)
    child_person_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    unit_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lesson_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    local_date = fields.Date(required=True)


@registry.register("absence_reported", 1)
class AbsenceReported(Schema):
    """A guardian reported a child absent for a period."""

    report_id = fields.UUID(required=True)
    child_person_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    unit_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reported_by_person_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    first_local_date = fields.Date(required=True)
    last_local_date = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=50))
