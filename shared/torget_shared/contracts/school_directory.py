"""Events published by the school directory service.

No payload carries a personal identity number. A person with protected
identity (SS 12000 securityMarking Sekretessmarkering or Skyddad
folkbokföring) is marked ``protected_identity``: a consumer keeps that
person's unit, groups and contact details away from everyone but the
person's own guardians and staff with a duty for them.
"""

from marshmallow import Schema, fields, validate

from torget_shared.events import registry

FEATURES = (
    "absence_reporting",
    "attendance_sms_notices",
    "schedule",
    "lesson_plans",
    "logbook",
    "development_talks",
    "iup",
    "conversations",
    "announcements",
)


@registry.register("person_changed", 1)
class PersonChangedV1(Schema):
    """A person was imported, or their name or protected identity changed, or they were removed."""

    person_id = fields.UUID(required=True)
    given_name = fields.String(required=True)
    family_name = fields.String(required=True)
    protected_identity = fields.Boolean(required=True)
    removed = fields.Boolean(required=True)


class GuardianshipV1(Schema):
    child_person_id = fields.UUID(required=True)
    guardian_person_id = fields.UUID(required=True)
    # SS 12000 RelationTypesEnum; only Vårdnadshavare is custody.
    relation_type = fields.String(required=True)


@registry.register("guardianship_established", 1)
class GuardianshipEstablishedV1(GuardianshipV1):
    """A child got a guardian or other responsible (SS 12000 Person.responsibles)."""


@registry.register("guardianship_ended", 1)
class GuardianshipEndedV1(GuardianshipV1):
    """A guardian or other responsible is no longer listed for the child."""


@registry.register("placement_changed", 1)
class PlacementChangedV1(Schema):
    """A child's placement or enrolment at a school unit was created, changed, ended or removed.

    ``kind`` is ``placement`` (SS 12000 placement: preschool, leisure centre)
    or ``enrolment`` (SS 12000 Person.enrolments: the other school forms).
    The placement is current while start_date <= today <= end_date (no
    end_date: open) and ``removed`` is false.
    """

    placement_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["placement", "enrolment"]))
    child_person_id = fields.UUID(required=True)
    school_unit_id = fields.UUID(required=True)
    group_id = fields.UUID(allow_none=True, load_default=None)
    school_type = fields.String(required=True)
    school_year = fields.Integer(allow_none=True, load_default=None)
    start_date = fields.Date(required=True)
    end_date = fields.Date(allow_none=True, load_default=None)
    removed = fields.Boolean(required=True)
    protected_identity = fields.Boolean(required=True)


@registry.register("unit_features_changed", 1)
class UnitFeaturesChangedV1(Schema):
    """A principal or administrator switched features of a school unit on or off.

    ``features`` is the whole set after the change; ``changed`` names the
    switches this change turned.
    """

    unit_id = fields.UUID(required=True)
    features = fields.Dict(keys=fields.String(validate=validate.OneOf(FEATURES)), values=fields.Boolean(), required=True)
    changed = fields.List(fields.String(validate=validate.OneOf(FEATURES)), required=True)
    changed_by_person_id = fields.UUID(allow_none=True, load_default=None)


class ActivityV1(Schema):
    """An SS 12000 activity: what is taught or done, by which groups and teachers."""

    activity_id = fields.UUID(required=True)
    display_name = fields.String(required=True)
    # SS 12000 activityType: Undervisning, Elevaktivitet, Provaktivitet, Läraraktivitet, Övrigt.
    activity_type = fields.String(allow_none=True, load_default=None)
    calendar_events_required = fields.Boolean(required=True)
    school_unit_id = fields.UUID(required=True)
    group_ids = fields.List(fields.UUID(), required=True)
    # The SS 12000 Duty ids of the teachers and, resolved by the directory, their person ids.
    teacher_duty_ids = fields.List(fields.UUID(), required=True)
    teacher_person_ids = fields.List(fields.UUID(), required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(allow_none=True, load_default=None)
    minutes_planned = fields.Integer(allow_none=True, load_default=None)


@registry.register("ss12000_activities_imported", 1)
class ActivitiesImportedV1(Schema):
    """Activities that an SS 12000 import found new or changed, and those deleted at the source.

    Each activity is its whole current state: a consumer replaces what it
    holds under the activity id. One import publishes several of these
    events, each with at most a few hundred activities.
    """

    activities = fields.List(fields.Nested(ActivityV1), required=True)
    removed_activity_ids = fields.List(fields.UUID(), required=True)


class StudentExceptionV1(Schema):
    person_id = fields.UUID(required=True)
    participates = fields.Boolean(required=True)


class CalendarEventV1(Schema):
    """An SS 12000 calendar event: one scheduled occurrence (lesson) of an activity."""

    calendar_event_id = fields.UUID(required=True)
    activity_id = fields.UUID(required=True)
    start_time = fields.AwareDateTime(required=True)
    end_time = fields.AwareDateTime(required=True)
    cancelled = fields.Boolean(required=True)
    teaching_length_student = fields.Integer(allow_none=True, load_default=None)
    student_exceptions = fields.List(fields.Nested(StudentExceptionV1), required=True)


@registry.register("ss12000_calendar_events_imported", 1)
class CalendarEventsImportedV1(Schema):
    """Calendar events that an SS 12000 import found new or changed, and those deleted at the source.

    Like ``ss12000_activities_imported``: whole current state per calendar
    event, replaced by id. Events of an activity follow that activity's event.
    """

    calendar_events = fields.List(fields.Nested(CalendarEventV1), required=True)
    removed_calendar_event_ids = fields.List(fields.UUID(), required=True)
