"""HTTP endpoints of the attendance service: schedule, registration, absence reports, statistics, lesson plans.

The attendance service checks the caller on every object. Its rejections
arrive as :class:`AttendanceRejection` (code, field, params, status) and
become responses in the gateway's error format, translated here.
"""

import marshmallow as ma
from flask_babel import gettext
from nameko.exceptions import registry as nameko_exception_registry

from torget_gateway.api import Blueprint
from torget_gateway.errors import ApiError, error_response
from torget_gateway.services import call_service

SERVICE = "attendance"

blueprint = Blueprint(
    "attendance", __name__, url_prefix="/attendance", description="Lessons, attendance, absence reports and lesson plans"
)


class AttendanceRejection(Exception):
    """A rejection raised by the attendance service, rebuilt from its args by nameko.

    nameko serialises every argument that is not a string, list or dict as
    its ``str()``, so the status arrives as text.
    """

    def __init__(self, code, field=None, params=None, status=400):
        super().__init__(code, field, params, status)
        self.code = code
        self.field = field
        self.params = params or {}
        self.status = int(status)


# nameko rebuilds a remote exception whose class path is registered from its
# args; these are the classes of torget_attendance.errors.
for _name in (
    "AttendanceError",
    "InvalidRequest",
    "NotFound",
    "Forbidden",
    "Conflict",
    "FeatureDisabled",
    "NotAuthenticated",
    "DirectoryUnavailable",
):
    nameko_exception_registry[f"torget_attendance.errors.{_name}"] = AttendanceRejection


def _messages() -> dict:
    """Return the message template of each rejection code, translated into the request's language."""
    return {
        "missing_field": gettext("The field %(field)s is missing."),
        "not_text": gettext("The field %(field)s must be text."),
        "too_long": gettext("The field %(field)s is longer than %(max)s characters."),
        "not_text_list": gettext("The field %(field)s must be a list of ids."),
        "too_few_items": gettext("The field %(field)s must list at least %(min)s items."),
        "too_many_items": gettext("The field %(field)s may list at most %(max)s items."),
        "not_an_object": gettext("The field %(field)s must be an object."),
        "not_whole_number": gettext("The field %(field)s must be a whole number."),
        "not_boolean": gettext("The field %(field)s must be true or false."),
        "out_of_range": gettext("The field %(field)s must be between %(min)s and %(max)s."),
        "invalid_choice": gettext("The field %(field)s must be one of: %(choices)s."),
        "invalid_date": gettext("The field %(field)s is not a valid date (YYYY-MM-DD)."),
        "invalid_time": gettext("The field %(field)s is not a valid time of day (HH:MM)."),
        "invalid_datetime": gettext("The field %(field)s is not a valid ISO 8601 timestamp."),
        "datetime_without_offset": gettext(
            "The field %(field)s must include a UTC offset, for example 2026-03-02T08:00:00+01:00."
        ),
        "last_date_before_first_date": gettext("The last date (%(field)s) is before the first date."),
        "period_too_long": gettext("The period is too long (%(field)s): at most %(max_days)s days."),
        "ends_before_start": gettext("The end time (%(field)s) must be later than the start time."),
        "lesson_too_long": gettext("A lesson may last at most %(max_hours)s hours (%(field)s)."),
        "nonexistent_local_time": gettext(
            "The time in %(field)s does not exist on %(date)s, because the clocks are put forward that night."
        ),
        "date_too_far_back": gettext("The school unit accepts absence reports from %(earliest)s (%(field)s)."),
        "date_too_far_ahead": gettext("The school unit accepts absence reports up to %(latest)s (%(field)s)."),
        "overlapping_report": gettext(
            "The period overlaps the absence report %(report_id)s already made for the child (%(field)s)."
        ),
        "absence_reporting_disabled": gettext(
            "The school unit has switched absence reporting off. Contact the school to report the absence."
        ),
        "schedule_disabled": gettext("The school unit does not show its schedule in Torget."),
        "lesson_plans_disabled": gettext("The school unit does not show lesson plans in Torget."),
        "child_not_found": gettext("No child that you may see or report for was found (%(field)s)."),
        "group_not_found": gettext("The group %(group_id)s was not found."),
        "group_not_at_unit": gettext("The group %(group_id)s does not belong to the school unit %(unit_id)s (%(field)s)."),
        "lesson_not_found": gettext("The lesson %(lesson_id)s was not found."),
        "activity_not_found": gettext("The activity %(activity_id)s was not found."),
        "lesson_cancelled": gettext("The lesson is cancelled, so no attendance can be registered for it."),
        "pupil_not_in_group": gettext("The pupil %(child_person_id)s (%(field)s) is not in the lesson's groups."),
        "duplicate_pupil": gettext("The pupil in %(field)s is listed more than once."),
        "late_minutes_without_late": gettext("Late minutes (%(field)s) apply only to a pupil marked late."),
        "valid_absence_when_present": gettext("A pupil marked present cannot have a valid absence (%(field)s)."),
        "already_checked_in": gettext("The child is already checked in."),
        "not_checked_in": gettext("The child is not checked in."),
        "before_last_check_out": gettext("The check-in time (%(field)s) is before the child's last check-out."),
        "in_the_future": gettext("The time in %(field)s is in the future."),
        "too_far_back": gettext("The time in %(field)s is more than %(max_hours)s hours ago."),
        "not_authenticated": gettext("Log in to do this."),
        "no_duty_at_unit": gettext("You have no duty at the school unit %(unit_id)s."),
        "not_unit_leader": gettext(
            "Only the principal or an administrator of the school unit %(unit_id)s may change its rules."
        ),
        "not_lesson_teacher": gettext(
            "Only a teacher of the lesson or staff at its school unit may register its attendance."
        ),
        "internal_rpc": gettext("Only the platform's own services may do this."),
        "directory_unavailable": gettext("The school directory is not available. Try again later."),
    }


def rejection_error(rejection: AttendanceRejection) -> ApiError:
    template = _messages().get(rejection.code)
    values = {"field": rejection.field or "", **{key: str(value) for key, value in rejection.params.items()}}
    if template is None:
        message = gettext("The attendance service rejected the request (%(code)s).", code=rejection.code)
    else:
        message = template % values
    fields = {rejection.field: [message]} if rejection.field and rejection.status == 422 else None
    return ApiError(rejection.status, rejection.code, message, fields=fields)


@blueprint.errorhandler(AttendanceRejection)
def _handle_rejection(rejection: AttendanceRejection):
    return error_response(rejection_error(rejection))


# Request schemas: the gateway checks types and required fields; the service checks the rules.


class PeriodArgs(ma.Schema):
    first_date = ma.fields.Date(required=True, metadata={"description": "First local date (Europe/Stockholm)"})
    last_date = ma.fields.Date(required=True, metadata={"description": "Last local date, inclusive"})


class LessonSchema(ma.Schema):
    unit_id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    subject = ma.fields.String(allow_none=True)
    room = ma.fields.String(allow_none=True)
    starts_at = ma.fields.String(required=True, metadata={"description": "ISO 8601 with UTC offset"})
    ends_at = ma.fields.String(required=True, metadata={"description": "ISO 8601 with UTC offset"})
    group_ids = ma.fields.List(ma.fields.String(), required=True)
    teacher_person_ids = ma.fields.List(ma.fields.String(), load_default=list)


class LessonMoveSchema(ma.Schema):
    starts_at = ma.fields.String(required=True)
    ends_at = ma.fields.String(required=True)
    room = ma.fields.String(allow_none=True)


class MarkSchema(ma.Schema):
    child_person_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"description": "present, absent or late"})
    late_minutes = ma.fields.Integer(allow_none=True, strict=True)
    valid_absence = ma.fields.Boolean(allow_none=True)


class RegistrationSchema(ma.Schema):
    marks = ma.fields.List(ma.fields.Nested(MarkSchema), required=True)


class AbsenceReportSchema(ma.Schema):
    child_person_id = ma.fields.String(required=True)
    first_date = ma.fields.String(required=True, metadata={"description": "Local date YYYY-MM-DD"})
    last_date = ma.fields.String(allow_none=True, metadata={"description": "Local date; default first_date"})
    start_time = ma.fields.String(allow_none=True, metadata={"description": "Local time HH:MM on first_date"})
    end_time = ma.fields.String(allow_none=True, metadata={"description": "Local time HH:MM on last_date"})
    reason = ma.fields.String(required=True, metadata={"description": "illness, medical_appointment or other"})
    comment = ma.fields.String(allow_none=True)


class VisitSchema(ma.Schema):
    child_person_id = ma.fields.String(required=True)
    at = ma.fields.String(allow_none=True, metadata={"description": "ISO 8601 with UTC offset; default now"})


class LessonPlanSchema(ma.Schema):
    lesson_id = ma.fields.String(allow_none=True)
    group_id = ma.fields.String(allow_none=True)
    week_year = ma.fields.Integer(allow_none=True, strict=True)
    week = ma.fields.Integer(allow_none=True, strict=True)
    title = ma.fields.String(required=True)
    content = ma.fields.String(load_default="")
    goals = ma.fields.String(load_default="")
    homework = ma.fields.String(load_default="")


class UnitRulesSchema(ma.Schema):
    report_days_ahead = ma.fields.Integer(strict=True)
    report_days_back = ma.fields.Integer(strict=True)
    absence_threshold_percent = ma.fields.Integer(strict=True)


def _period(args: dict) -> tuple[str, str]:
    return args["first_date"].isoformat(), args["last_date"].isoformat()


# Lessons and registration


@blueprint.route("/lessons", methods=["POST"])
@blueprint.arguments(LessonSchema)
@blueprint.response(201)
def create_lesson(lesson):
    """Create a lesson at a school unit where the caller has a duty."""
    return call_service(SERVICE, "create_lesson", lesson)


@blueprint.route("/lessons/<lesson_id>", methods=["GET"])
@blueprint.response(200)
def lesson_attendance(lesson_id):
    """Return a lesson with each pupil's mark and any guardian's absence report."""
    return call_service(SERVICE, "lesson_attendance", lesson_id)


@blueprint.route("/lessons/<lesson_id>", methods=["PATCH"])
@blueprint.arguments(LessonMoveSchema)
@blueprint.response(200)
def move_lesson(change, lesson_id):
    """Move a lesson to new times and, optionally, another room."""
    return call_service(SERVICE, "move_lesson", lesson_id, change)


@blueprint.route("/lessons/<lesson_id>/cancel", methods=["POST"])
@blueprint.response(200)
def cancel_lesson(lesson_id):
    """Cancel a lesson."""
    return call_service(SERVICE, "cancel_lesson", lesson_id)


@blueprint.route("/lessons/<lesson_id>/registration", methods=["PUT"])
@blueprint.arguments(RegistrationSchema)
@blueprint.response(200)
def register_lesson(registration, lesson_id):
    """Register the attendance of a lesson's pupils; repeating a registration changes nothing."""
    return call_service(SERVICE, "register_lesson", lesson_id, registration["marks"])


@blueprint.route("/lessons/<lesson_id>/history", methods=["GET"])
@blueprint.response(200)
def lesson_history(lesson_id):
    """Return every version of every mark of a lesson."""
    return call_service(SERVICE, "lesson_history", lesson_id)


# Groups (staff)


@blueprint.route("/groups/<group_id>/lessons", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def group_schedule(args, group_id):
    """Return a group's lessons in a period."""
    return call_service(SERVICE, "group_schedule", group_id, *_period(args))


@blueprint.route("/groups/<group_id>/absence-reports", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def group_absence_reports(args, group_id):
    """Return the guardians' absence reports of a group's pupils in a period."""
    return call_service(SERVICE, "group_absence_reports", group_id, *_period(args))


@blueprint.route("/groups/<group_id>/statistics", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def group_statistics(args, group_id):
    """Return absence minutes against scheduled minutes of each pupil of a group."""
    return call_service(SERVICE, "group_statistics", group_id, *_period(args))


@blueprint.route("/groups/<group_id>/lesson-plans", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def group_lesson_plans(args, group_id):
    """Return a group's lesson plans in a period."""
    return call_service(SERVICE, "group_lesson_plans", group_id, *_period(args))


@blueprint.route("/mentor-flags", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def mentor_flags(args):
    """Return the pupils over their unit's absence threshold in the groups the caller mentors."""
    return call_service(SERVICE, "mentor_flags", *_period(args))


# Children (the child and guardians with custody)


@blueprint.route("/children/<child_person_id>/lessons", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def child_schedule(args, child_person_id):
    """Return a child's lessons with the child's marks and reported absence."""
    return call_service(SERVICE, "child_schedule", child_person_id, *_period(args))


@blueprint.route("/children/<child_person_id>/absence-reports", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def child_absence_reports(args, child_person_id):
    """Return a child's absence reports in a period."""
    return call_service(SERVICE, "child_absence_reports", child_person_id, *_period(args))


@blueprint.route("/children/<child_person_id>/statistics", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def pupil_statistics(args, child_person_id):
    """Return a pupil's absence minutes against scheduled minutes."""
    return call_service(SERVICE, "pupil_statistics", child_person_id, *_period(args))


@blueprint.route("/children/<child_person_id>/lesson-plans", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def child_lesson_plans(args, child_person_id):
    """Return the lesson plans of a child's groups, where the unit shows them."""
    return call_service(SERVICE, "child_lesson_plans", child_person_id, *_period(args))


@blueprint.route("/children/<child_person_id>/visits", methods=["GET"])
@blueprint.arguments(PeriodArgs, location="query")
@blueprint.response(200)
def child_visits(args, child_person_id):
    """Return a preschool child's check-ins and check-outs."""
    return call_service(SERVICE, "child_visits", child_person_id, *_period(args))


# Reports, visits, plans and rules


@blueprint.route("/absence-reports", methods=["POST"])
@blueprint.arguments(AbsenceReportSchema)
@blueprint.response(201)
def report_absence(report):
    """Report a child in the caller's custody absent for a day, part of a day or several days."""
    return call_service(SERVICE, "report_absence", report)


@blueprint.route("/check-ins", methods=["POST"])
@blueprint.arguments(VisitSchema)
@blueprint.response(201)
def check_in(visit):
    """Check a preschool child in."""
    return call_service(SERVICE, "check_in", visit)


@blueprint.route("/check-outs", methods=["POST"])
@blueprint.arguments(VisitSchema)
@blueprint.response(200)
def check_out(visit):
    """Check a preschool child out."""
    return call_service(SERVICE, "check_out", visit)


@blueprint.route("/lesson-plans", methods=["PUT"])
@blueprint.arguments(LessonPlanSchema)
@blueprint.response(200)
def attach_lesson_plan(plan):
    """Attach a plan to a lesson, or to a group's ISO week; replaces the plan it had."""
    return call_service(SERVICE, "attach_lesson_plan", {key: value for key, value in plan.items() if value is not None})


@blueprint.route("/units/<unit_id>/rules", methods=["GET"])
@blueprint.response(200)
def unit_rules(unit_id):
    """Return a school unit's attendance rules."""
    return call_service(SERVICE, "unit_rules", unit_id)


@blueprint.route("/units/<unit_id>/rules", methods=["PATCH"])
@blueprint.arguments(UnitRulesSchema)
@blueprint.response(200)
def set_unit_rules(change, unit_id):
    """Change a school unit's report limits and absence threshold."""
    return call_service(SERVICE, "set_unit_rules", unit_id, change)
