"""The directory's events: payloads built from rows, written to the outbox in bulk.

An import changes thousands of rows in one transaction, so the events of a
batch go to the outbox in one multi-row INSERT instead of one
``write_event`` call each.
"""

from sqlalchemy.engine import Connection

from torget_shared import contracts  # noqa: F401  (registers the event schemas)
from torget_shared import outbox

from torget_school_directory import ss12000

PRODUCER = "school_directory"


def is_protected(security_marking: str | None) -> bool:
    return (security_marking or ss12000.NO_SECURITY_MARKING) != ss12000.NO_SECURITY_MARKING


def _iso(value):
    return value.isoformat() if value is not None else None


def person_changed(row: dict, removed: bool = False) -> tuple[str, dict]:
    return "person_changed", {
        "person_id": row["id"],
        "given_name": row["given_name"],
        "family_name": row["family_name"],
        "protected_identity": is_protected(row["security_marking"]),
        "removed": removed,
    }


def guardianship(event_type: str, child_id: str, guardian_id: str, relation_type: str) -> tuple[str, dict]:
    return event_type, {"child_person_id": child_id, "guardian_person_id": guardian_id, "relation_type": relation_type}


def placement_changed(row: dict, protected: bool, removed: bool = False) -> tuple[str, dict]:
    return "placement_changed", {
        "placement_id": row["id"],
        "kind": row["kind"],
        "child_person_id": row["child_id"],
        "school_unit_id": row["school_unit_id"],
        "group_id": row["group_id"],
        "school_type": row["school_type"],
        "school_year": row["school_year"],
        "start_date": _iso(row["start_date"]),
        "end_date": _iso(row["end_date"]),
        "removed": removed,
        "protected_identity": protected,
    }


def activity_payload(activity: dict, teacher_person_ids: list[str]) -> dict:
    return {
        **activity,
        "start_date": _iso(activity["start_date"]),
        "end_date": _iso(activity["end_date"]),
        "teacher_person_ids": teacher_person_ids,
    }


def calendar_event_payload(calendar_event: dict) -> dict:
    return {
        **calendar_event,
        "start_time": _iso(calendar_event["start_time"]),
        "end_time": _iso(calendar_event["end_time"]),
    }


_schemas: dict = {}


def write_events(connection: Connection, events: list[tuple[str, dict]], producer: str = PRODUCER) -> None:
    """Add ``events`` (event type, payload) to the outbox inside the connection's transaction."""
    outbox.write_events(connection, producer, events)
