"""The directory's events: payloads built from rows, written to the outbox in bulk.

An import changes thousands of rows in one transaction, so the events of a
batch go to the outbox in one multi-row INSERT instead of one
``write_event`` call each, and each payload schema is instantiated once
instead of once per event.
"""

from sqlalchemy import insert
from sqlalchemy.engine import Connection

import uuid

from torget_shared import contracts  # noqa: F401  (registers the event schemas)
from torget_shared.context import get_correlation_id, new_correlation_id
from torget_shared.db import utcnow
from torget_shared.events import registry
from torget_shared.outbox import PENDING, outbox_table

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


def build_envelope(producer: str, event_type: str, payload: dict) -> dict:
    """Check ``payload`` against the latest schema of its event type and wrap it in the platform's envelope.

    NOTE: this repeats torget_shared.events.build_envelope with the schema
    instance cached, because the registry builds a new schema per call and
    that took about half of an import's time. Keep the two in step.
    """
    version = registry.latest_version(event_type)
    schema = _schemas.get((event_type, version))
    if schema is None:
        schema = _schemas[(event_type, version)] = registry.schema(event_type, version)
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "event_version": version,
        "occurred_at": utcnow().isoformat(),
        "producer": producer,
        "correlation_id": get_correlation_id() or new_correlation_id(),
        "payload": schema.dump(schema.load(payload)),
    }


def write_events(connection: Connection, events: list[tuple[str, dict]], producer: str = PRODUCER) -> None:
    """Add ``events`` (event type, payload) to the outbox inside the connection's transaction."""
    if not events:
        return
    now = utcnow()
    rows = []
    for event_type, payload in events:
        envelope = build_envelope(producer, event_type, payload)
        rows.append(
            {
                "event_id": envelope["event_id"],
                "event_type": event_type,
                "envelope": envelope,
                "state": PENDING,
                "attempts": 0,
                "available_at": now,
                "created_at": now,
            }
        )
    connection.execute(insert(outbox_table), rows)
