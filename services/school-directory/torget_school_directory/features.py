"""Feature switches per school unit: which parts of Torget a unit uses.

A unit without a stored switch has the default of its school forms; a unit
with several school forms has a feature on when any of its forms has it on.
Principals (a current duty as Rektor or Förskolechef at the unit) and
administrators change the switches.
"""

from datetime import date

from sqlalchemy import insert, select, update

from torget_shared.contracts.school_directory import FEATURES
from torget_shared.db import utcnow

from torget_school_directory import access, queries, ss12000
from torget_school_directory.access import InvalidRequest, NotFound, Viewer
from torget_school_directory.models import organisations
from torget_school_directory.models import unit_features as feature_switches

_PRESCHOOL = {"absence_reporting", "logbook", "development_talks", "conversations", "announcements"}
_LEISURE = {"absence_reporting", "logbook", "conversations", "announcements"}
_COMPULSORY = {
    "absence_reporting", "attendance_sms_notices", "schedule", "lesson_plans",
    "development_talks", "iup", "conversations", "announcements",
}  # fmt: skip
# Upper-secondary school has individual study plans instead of an IUP.
_UPPER_SECONDARY = _COMPULSORY - {"iup"}
# Adult students report their own absence and get no notices sent to guardians.
_ADULT = {"absence_reporting", "schedule", "lesson_plans", "conversations", "announcements"}
_OTHER = {"schedule", "conversations", "announcements"}

DEFAULTS_BY_SCHOOL_TYPE = {
    "FS": _PRESCHOOL,
    "FTH": _LEISURE,
    "OPPFTH": _LEISURE,
    **{school_type: _COMPULSORY for school_type in ("FKLASS", "GR", "GRS", "TR", "SP", "SAM")},
    **{school_type: _UPPER_SECONDARY for school_type in ("GY", "GYS")},
    **{
        school_type: _ADULT
        for school_type in ("VUX", "VUXSFI", "VUXGR", "VUXGY", "VUXSARGR", "VUXSARTR", "VUXSARGY", "SFI",
                            "SARVUX", "SARVUXGR", "SARVUXGY")  # fmt: skip
    },
    **{school_type: _OTHER for school_type in ("KU", "YH", "FHS", "STF", "KKU", "HS", "ABU", "AU")},
}


def default_features(school_types: list[str]) -> dict[str, bool]:
    enabled = set().union(*(DEFAULTS_BY_SCHOOL_TYPE.get(school_type, _OTHER) for school_type in school_types or []))
    return {feature: feature in enabled for feature in FEATURES}


def _school_unit(connection, unit_id: str):
    return connection.execute(
        select(organisations).where(
            organisations.c.id == unit_id,
            organisations.c.organisation_type == ss12000.SCHOOL_UNIT,
            organisations.c.removed_at.is_(None),
        )
    ).first()


def unit_features(connection, unit_id: str) -> dict:
    """Return ``{"unit_id", "school_types", "features": {name: bool}}``; raises NotFound for no such school unit."""
    unit = _school_unit(connection, unit_id)
    if unit is None:
        raise NotFound("school unit not found")
    features = default_features(unit.school_types)
    for row in connection.execute(select(feature_switches).where(feature_switches.c.unit_id == unit_id)):
        features[row.feature] = row.enabled
    return {"unit_id": unit.id, "school_types": unit.school_types, "features": features}


def may_see_features(connection, viewer: Viewer, unit_id: str, today: date) -> bool:
    """Staff of the unit, administrators and guardians of a child placed there read the switches."""
    if access.may_see_unit(connection, viewer, unit_id, today):
        return True
    if not viewer.person_id:
        return False
    children = access.custody_children(connection, viewer.person_id)
    placed = queries.current_placements(connection, children, today) if children else {}
    return any(p["unit_id"] == unit_id for child in placed.values() for p in child)


def _checked_changes(changes) -> dict[str, bool]:
    if not isinstance(changes, dict) or not changes:
        raise InvalidRequest("changes must be an object of feature names and true or false")
    unknown = sorted(set(changes) - set(FEATURES))
    if unknown:
        raise InvalidRequest(f"unknown feature {', '.join(unknown)}; the features are {', '.join(FEATURES)}")
    not_boolean = sorted(name for name, value in changes.items() if not isinstance(value, bool))
    if not_boolean:
        raise InvalidRequest(f"feature {', '.join(not_boolean)} must be true or false")
    return changes


def set_unit_features(connection, viewer: Viewer, unit_id: str, changes: dict, today: date) -> tuple[dict, dict | None]:
    """Apply ``changes`` ({feature: enabled}) to a unit.

    Returns the unit's features after the change and the payload of the
    ``unit_features_changed`` event, or None when nothing changed. A viewer
    who is neither the unit's principal nor an administrator gets NotFound.
    """
    if _school_unit(connection, unit_id) is None or not (
        viewer.is_administrator or access.is_principal(connection, viewer.person_id, unit_id, today)
    ):
        raise NotFound("school unit not found")
    changes = _checked_changes(changes)

    before = unit_features(connection, unit_id)["features"]
    stored = {row.feature for row in connection.execute(select(feature_switches).where(feature_switches.c.unit_id == unit_id))}
    now = utcnow()
    for feature, enabled in sorted(changes.items()):
        values = {"enabled": enabled, "changed_by": viewer.person_id, "changed_at": now}
        if feature in stored:
            connection.execute(
                update(feature_switches)
                .where(feature_switches.c.unit_id == unit_id, feature_switches.c.feature == feature)
                .values(**values)
            )
        else:
            connection.execute(insert(feature_switches).values(unit_id=unit_id, feature=feature, **values))

    after = unit_features(connection, unit_id)
    turned = [feature for feature in FEATURES if before[feature] != after["features"][feature]]
    if not turned:
        return after, None
    event = {
        "unit_id": unit_id,
        "features": after["features"],
        "changed": turned,
        "changed_by_person_id": viewer.person_id,
    }
    return after, event
