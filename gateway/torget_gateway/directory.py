"""HTTP endpoints of the school directory: children, guardians, placements, groups, duties, feature switches, imports.

The directory checks the caller on every object and raises NotFound both
for an object that does not exist and for one the caller may not see, so
each endpoint here responds to both with the same 404 message. The directory
accepts anonymous calls and answers them with nothing, so the gateway
itself responds 401 to a request without a verified account. The
directory's internal RPCs (person_roles, unit_features, child_context)
have no endpoint.
"""

import logging

import marshmallow as ma
from flask import Response
from flask_babel import gettext
from nameko.exceptions import RemoteError

from torget_gateway.api import Blueprint
from torget_gateway.auth import current_caller
from torget_gateway.errors import ApiError
from torget_gateway.services import call_service
from torget_gateway.validation import N_
from torget_shared.caller import ACCOUNT
from torget_shared.contracts.school_directory import FEATURES

log = logging.getLogger(__name__)

SERVICE = "school_directory"

blueprint = Blueprint(
    "directory",
    __name__,
    url_prefix="/directory",
    description="Children and their guardians, placements, groups, staff duties, feature switches and SS 12000 imports",
)

NO_FEATURE_NAMED = N_("Name at least one feature to change.")
DUMP_NAME_IS_PATH = N_("Give the name of a dump in the import folder, not a path.")


# -- calling the directory and translating its errors ------------------------------


def _not_found_messages() -> dict:
    """Return the 404 message for each kind of object, the same for a missing and a hidden one."""
    return {
        "child": gettext("The child was not found, or you may not see it."),
        "unit": gettext("The school unit was not found, or you may not see it."),
        "group": gettext("The group was not found, or you may not see it."),
        "features": gettext(
            "The school unit was not found, or you may not change its features. "
            "Only the unit's principal and administrators may change them."
        ),
        "person": gettext("The person was not found, or you may not see them."),
    }


@blueprint.before_request
def _require_account() -> None:
    # Runs before the request body is parsed, so an anonymous request gets 401 and never 422.
    if current_caller().kind != ACCOUNT:
        raise ApiError(
            401, "login_required", gettext("Log in to do this."), headers={"WWW-Authenticate": "Bearer"}
        )


def call_directory(method: str, *args, not_found: str):
    """Call the directory for the request's caller and turn its NotFound and InvalidRequest into error responses.

    ``not_found`` names the kind of object in the 404 message. Any other
    remote error, InternalOnly included, goes to the app's handler and
    becomes a 500.
    """
    try:
        return call_service(SERVICE, method, *args)
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            raise ApiError(404, "not_found", _not_found_messages()[not_found]) from None
        if exc.exc_type == "InvalidRequest":
            # The gateway's schemas check what the directory checks, so a rejection
            # here means a rule the schemas lack. The directory's reason goes to the log.
            log.warning("school_directory.%s rejected the request: %s", method, exc.value)
            raise ApiError(
                422, "invalid_request", gettext("The school directory rejected the request as invalid.")
            ) from None
        raise


# -- response schemas ----------------------------------------------------------------


class PersonSchema(ma.Schema):
    person_id = ma.fields.String(required=True)
    given_name = ma.fields.String(required=True)
    family_name = ma.fields.String(required=True)
    protected_identity = ma.fields.Boolean(
        required=True,
        metadata={"description": "SS 12000 securityMarking is set: never show the person to others"},
    )


class PlacementSchema(ma.Schema):
    placement_id = ma.fields.String(required=True)
    unit_id = ma.fields.String(required=True)
    unit_name = ma.fields.String(required=True)
    school_type = ma.fields.String(required=True, metadata={"description": "SS 12000 school type, e.g. FS, GR"})
    school_year = ma.fields.Integer(allow_none=True)
    start_date = ma.fields.String(required=True, metadata={"format": "date"})
    end_date = ma.fields.String(allow_none=True, metadata={"format": "date"})


class PlacementHistorySchema(PlacementSchema):
    kind = ma.fields.String(required=True, metadata={"description": "placement or enrolment"})
    current = ma.fields.Boolean(required=True, metadata={"description": "In force on today's school date"})


class GroupSchema(ma.Schema):
    group_id = ma.fields.String(required=True)
    display_name = ma.fields.String(required=True)
    group_type = ma.fields.String(required=True, metadata={"description": "SS 12000 group type, e.g. Klass"})
    school_type = ma.fields.String(allow_none=True)
    unit_id = ma.fields.String(required=True)


class ChildSchema(PersonSchema):
    birth_date = ma.fields.String(allow_none=True, metadata={"format": "date"})
    placements = ma.fields.List(
        ma.fields.Nested(PlacementSchema), required=True, metadata={"description": "Current placements and enrolments"}
    )
    groups = ma.fields.List(ma.fields.Nested(GroupSchema), required=True, metadata={"description": "Current groups"})


class ContactEmailSchema(ma.Schema):
    value = ma.fields.String(required=True)
    type = ma.fields.String(allow_none=True)


class ContactPhoneNumberSchema(ma.Schema):
    value = ma.fields.String(required=True, metadata={"description": "E.164, e.g. +46701234567"})
    type = ma.fields.String(allow_none=True)
    mobile = ma.fields.Boolean(required=True)


class GuardianSchema(PersonSchema):
    relation_type = ma.fields.String(required=True, metadata={"description": "SS 12000 relation type"})
    custody = ma.fields.Boolean(required=True, metadata={"description": "The relation type is Vårdnadshavare"})
    emails = ma.fields.List(
        ma.fields.Nested(ContactEmailSchema), metadata={"description": "Only for staff of the child's unit and administrators"}
    )
    phone_numbers = ma.fields.List(
        ma.fields.Nested(ContactPhoneNumberSchema),
        metadata={"description": "Only for staff of the child's unit and administrators"},
    )


class GroupMembersSchema(GroupSchema):
    members = ma.fields.List(
        ma.fields.Nested(PersonSchema),
        required=True,
        metadata={"description": "A guardian sees no member with protected identity except their own children"},
    )


class DutySchema(ma.Schema):
    duty_id = ma.fields.String(required=True)
    duty_role = ma.fields.String(required=True, metadata={"description": "SS 12000 duty role, e.g. Rektor, Lärare"})
    unit_id = ma.fields.String(required=True)
    unit_name = ma.fields.String(required=True)
    school_types = ma.fields.List(ma.fields.String(), required=True)


class AssignmentsSchema(ma.Schema):
    person_id = ma.fields.String(allow_none=True)
    units = ma.fields.List(ma.fields.Nested(DutySchema), required=True, metadata={"description": "One per current duty"})
    groups = ma.fields.List(
        ma.fields.Nested(GroupSchema), required=True, metadata={"description": "Current groups of those units"}
    )


# -- feature switches ----------------------------------------------------------------------


class StrictBoolean(ma.fields.Boolean):
    """A boolean that accepts only JSON true and false, not "yes", 1 or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


FeatureSwitchesSchema = ma.Schema.from_dict(
    {feature: StrictBoolean() for feature in FEATURES}, name="FeatureSwitches"
)


class UnitFeaturesSchema(ma.Schema):
    unit_id = ma.fields.String(required=True)
    school_types = ma.fields.List(ma.fields.String(), required=True)
    features = ma.fields.Nested(
        FeatureSwitchesSchema, required=True, metadata={"description": "Every feature, on (true) or off (false)"}
    )


class FeatureChangeSchema(ma.Schema):
    features = ma.fields.Nested(
        FeatureSwitchesSchema,
        required=True,
        metadata={"description": "The features to switch; a feature left out keeps its setting"},
    )

    @ma.validates_schema
    def _names_a_feature(self, data, **kwargs):
        if not data.get("features"):
            raise ma.ValidationError(NO_FEATURE_NAMED, field_name="features")


# -- imports ---------------------------------------------------------------------------------


def _plain_name(value: str) -> None:
    if "/" in value or "\\" in value or value in (".", ".."):
        raise ma.ValidationError(DUMP_NAME_IS_PATH)


class ImportArgs(ma.Schema):
    dump_name = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=1, max=255), _plain_name],
        metadata={"description": "A JSON file or folder of SS 12000 records in the directory's DIRECTORY_IMPORT_DIR"},
    )


class EntityCountsSchema(ma.Schema):
    created = ma.fields.Integer(required=True)
    changed = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)
    ended = ma.fields.Integer(required=True)
    removed = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)


class GuardianshipCountsSchema(ma.Schema):
    established = ma.fields.Integer(required=True)
    ended = ma.fields.Integer(required=True)


class RejectedRecordSchema(ma.Schema):
    entity = ma.fields.String(required=True)
    id = ma.fields.String(allow_none=True)
    reason = ma.fields.String(required=True)


class ImportReportSchema(ma.Schema):
    source = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"description": "complete or failed"})
    error = ma.fields.String(allow_none=True, metadata={"description": "Why a failed import stopped, in English"})
    started_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    finished_at = ma.fields.String(allow_none=True, metadata={"format": "date-time"})
    records = ma.fields.Integer(required=True, metadata={"description": "Records read from the dump"})
    records_per_second = ma.fields.Float(required=True)
    changes = ma.fields.Integer(required=True, metadata={"description": "Records and guardianships written"})
    entities = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(EntityCountsSchema), required=True,
        metadata={"description": "Counts per SS 12000 entity"},
    )
    guardianships = ma.fields.Nested(GuardianshipCountsSchema, required=True)
    rejected = ma.fields.List(
        ma.fields.Nested(RejectedRecordSchema), required=True, metadata={"description": "The first 1,000 rejected records"}
    )
    rejected_not_listed = ma.fields.Integer(required=True)


# -- endpoints ---------------------------------------------------------------------------------


@blueprint.route("/me/children")
@blueprint.response(200, ChildSchema(many=True))
def my_children():
    """List the children in the caller's custody with their current units and groups."""
    return call_directory("guardian_children", not_found="person")


@blueprint.route("/children/<child_id>/guardians")
@blueprint.response(200, GuardianSchema(many=True))
def child_guardians(child_id):
    """List a child's guardians. Staff of the child's unit and administrators also get contact details."""
    return call_directory("child_guardians", child_id, not_found="child")


@blueprint.route("/children/<child_id>/placements")
@blueprint.response(200, PlacementHistorySchema(many=True))
def placement_history(child_id):
    """List every placement and enrolment of a child, oldest first, ended ones included."""
    return call_directory("placement_history", child_id, not_found="child")


@blueprint.route("/units/<unit_id>/groups")
@blueprint.response(200, GroupSchema(many=True))
def unit_groups(unit_id):
    """List a school unit's current groups, for staff with a duty at the unit."""
    return call_directory("unit_groups", unit_id, not_found="unit")


@blueprint.route("/groups/<group_id>/members")
@blueprint.response(200, GroupMembersSchema)
def group_members(group_id):
    """Return a group and its current members, for the unit's staff and guardians of a member."""
    return call_directory("group_members", group_id, not_found="group")


@blueprint.route("/me/assignments")
@blueprint.response(200, AssignmentsSchema)
def my_assignments():
    """List the units where the caller has a current duty, and those units' current groups."""
    return call_directory("staff_assignments", not_found="person")


@blueprint.route("/units/<unit_id>/features")
@blueprint.response(200, UnitFeaturesSchema)
def unit_features(unit_id):
    """Return which parts of Torget a school unit uses, to its staff and to guardians of children placed there."""
    return call_directory("get_unit_features", unit_id, not_found="unit")


@blueprint.route("/units/<unit_id>/features", methods=["PUT"])
@blueprint.arguments(FeatureChangeSchema)
@blueprint.response(200, UnitFeaturesSchema)
def set_unit_features(change, unit_id):
    """Switch features of a school unit on or off, as the unit's principal or an administrator."""
    return call_directory("set_unit_features", unit_id, change["features"], not_found="features")


@blueprint.route("/imports", methods=["POST"])
@blueprint.arguments(ImportArgs)
@blueprint.response(200, ImportReportSchema)
def import_dump(args):
    """Import a small SS 12000 dump from the directory's import folder, as an administrator.

    The import runs within the request, so a dump that takes longer than
    the gateway's RPC timeout gets 504 while the import goes on. Run a
    large import, such as a municipality's first, with the
    torget-directory-import command on the directory's host.
    """
    try:
        return call_service(SERVICE, "import_ss12000", args["dump_name"])
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            raise ApiError(
                403, "administrator_required", gettext("Only an administrator may import into the school directory.")
            ) from None
        if exc.exc_type == "InvalidRequest":
            log.warning("import of dump %s rejected: %s", args["dump_name"], exc.value)
            # NOTE: the directory words its reason in English only.
            message = gettext("The dump cannot be imported: %(reason)s", reason=exc.value)
            raise ApiError(422, "invalid_dump", message, fields={"dump_name": [message]}) from None
        raise


@blueprint.after_request
def _no_store(response: Response) -> Response:
    # Names, placements and contact details must not stay in shared or browser caches.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response
