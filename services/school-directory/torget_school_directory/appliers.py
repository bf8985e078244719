"""Write checked SS 12000 records to the directory tables, with their events.

Each applier takes the records of one batch that are new and those that
changed (with the row stored before), writes them with multi-row statements
inside the caller's transaction, and returns an :class:`Outcome`: what it
counted and the events to publish. The importer runs one applier call per
batch, or per record inside a savepoint when the batch fails.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from torget_school_directory import publishing
from torget_school_directory.models import (
    duties,
    forwarded_records,
    group_memberships,
    groups,
    guardianships,
    organisations,
    persons,
    placements,
)
from torget_school_directory.records import Record, content_hash

# Events of activities and calendar events are published in chunks of this many records.
FORWARD_CHUNK = 200


@dataclass
class Outcome:
    created: int = 0
    changed: int = 0
    ended: int = 0
    guardianships_established: int = 0
    guardianships_ended: int = 0
    events: list = field(default_factory=list)


@dataclass
class ApplyContext:
    now: datetime
    today: date


def _stamped(record: Record, now: datetime) -> dict:
    return {
        **record.row,
        "content_hash": record.content_hash,
        "source_modified": record.modified,
        "removed_at": None,
        "updated_at": now,
    }


def _insert_and_update(connection: Connection, table, new: list[Record], changed: list, now: datetime) -> None:
    if new:
        connection.execute(insert(table), [_stamped(record, now) for record in new])
    if changed:
        rows = []
        for record, _old in changed:
            row = _stamped(record, now)
            row["row_id"] = row.pop("id")
            rows.append(row)
        statement = update(table).where(table.c.id == bindparam("row_id"))
        connection.execute(statement, rows)


def _ended(old: dict, record: Record) -> bool:
    return old.get("end_date") is None and record.row.get("end_date") is not None


def _count(outcome: Outcome, new: list, changed: list) -> None:
    outcome.created += len(new)
    for record, old in changed:
        if _ended(old, record):
            outcome.ended += 1
        else:
            outcome.changed += 1


def apply_organisations(connection: Connection, context: ApplyContext, new: list, changed: list) -> Outcome:
    _insert_and_update(connection, organisations, new, changed, context.now)
    outcome = Outcome()
    _count(outcome, new, changed)
    return outcome


def apply_duties(connection: Connection, context: ApplyContext, new: list, changed: list) -> Outcome:
    _insert_and_update(connection, duties, new, changed, context.now)
    outcome = Outcome()
    _count(outcome, new, changed)
    return outcome


def apply_groups(connection: Connection, context: ApplyContext, new: list, changed: list) -> Outcome:
    _insert_and_update(connection, groups, new, changed, context.now)
    if changed:
        changed_ids = [record.id for record, _old in changed]
        connection.execute(delete(group_memberships).where(group_memberships.c.group_id.in_(changed_ids)))
    memberships = [row for record in [*new, *(record for record, _old in changed)] for row in record.parts["memberships"]]
    if memberships:
        connection.execute(insert(group_memberships), memberships)

    outcome = Outcome()
    _count(outcome, new, changed)
    return outcome


def protected_children(connection: Connection, child_ids: set[str]) -> set[str]:
    if not child_ids:
        return set()
    rows = connection.execute(
        select(persons.c.id, persons.c.security_marking).where(persons.c.id.in_(sorted(child_ids)))
    )
    return {row.id for row in rows if publishing.is_protected(row.security_marking)}


def apply_placements(connection: Connection, context: ApplyContext, new: list, changed: list) -> Outcome:
    _insert_and_update(connection, placements, new, changed, context.now)
    outcome = Outcome()
    _count(outcome, new, changed)

    records = [*new, *(record for record, _old in changed)]
    protected = protected_children(connection, {record.row["child_id"] for record in records})
    outcome.events = [publishing.placement_changed(record.row, record.row["child_id"] in protected) for record in records]
    return outcome


def apply_persons(connection: Connection, context: ApplyContext, new: list, changed: list) -> Outcome:
    _insert_and_update(connection, persons, new, changed, context.now)
    outcome = Outcome()
    outcome.created = len(new)
    outcome.changed = len(changed)

    for record in new:
        outcome.events.append(publishing.person_changed(record.row))
    for record, old in changed:
        if (
            old["removed_at"] is not None
            or old["given_name"] != record.row["given_name"]
            or old["family_name"] != record.row["family_name"]
            or old["security_marking"] != record.row["security_marking"]
        ):
            outcome.events.append(publishing.person_changed(record.row))

    records = [*new, *(record for record, _old in changed)]
    _apply_guardianships(connection, context, records, outcome)
    _apply_enrolments(connection, context, records, outcome)
    return outcome


def _apply_guardianships(connection: Connection, context: ApplyContext, records: list[Record], outcome: Outcome) -> None:
    child_ids = [record.id for record in records]
    stored: dict[str, dict] = {}
    for row in connection.execute(select(guardianships).where(guardianships.c.child_id.in_(child_ids))):
        stored.setdefault(row.child_id, {})[row.guardian_id] = row

    inserts, reopen = [], []
    for record in records:
        child_stored = stored.get(record.id, {})
        listed = set()
        for entry in record.parts["guardianships"]:
            listed.add(entry["guardian_id"])
            row = child_stored.get(entry["guardian_id"])
            if row is None:
                inserts.append({**entry, "established_at": context.now, "ended_at": None})
            elif row.ended_at is not None or row.relation_type != entry["relation_type"]:
                reopen.append({"c": entry["child_id"], "g": entry["guardian_id"], "relation_type": entry["relation_type"]})
            else:
                continue
            outcome.guardianships_established += 1
            outcome.events.append(
                publishing.guardianship(
                    "guardianship_established", entry["child_id"], entry["guardian_id"], entry["relation_type"]
                )
            )

        for guardian_id, row in child_stored.items():
            if guardian_id not in listed and row.ended_at is None:
                reopen.append({"c": record.id, "g": guardian_id, "relation_type": row.relation_type, "ended": True})
                outcome.guardianships_ended += 1
                outcome.events.append(
                    publishing.guardianship("guardianship_ended", record.id, guardian_id, row.relation_type)
                )

    if inserts:
        connection.execute(insert(guardianships), inserts)
    _update_guardianships(connection, context, reopen)


def _update_guardianships(connection: Connection, context: ApplyContext, updates: list[dict]) -> None:
    if not updates:
        return
    statement = (
        update(guardianships)
        .where(guardianships.c.child_id == bindparam("c"), guardianships.c.guardian_id == bindparam("g"))
        .values(relation_type=bindparam("relation_type"), ended_at=bindparam("ended_at"))
    )
    connection.execute(
        statement,
        [
            {"c": row["c"], "g": row["g"], "relation_type": row["relation_type"], "ended_at": context.now if row.get("ended") else None}
            for row in updates
        ],
    )


def end_guardianships(connection: Connection, context: ApplyContext, person_ids: list[str], outcome: Outcome) -> None:
    """End every open guardianship in which one of ``person_ids`` is the child or the guardian."""
    rows = connection.execute(
        select(guardianships).where(
            guardianships.c.ended_at.is_(None),
            or_(guardianships.c.child_id.in_(person_ids), guardianships.c.guardian_id.in_(person_ids)),
        )
    ).all()
    updates = [{"c": row.child_id, "g": row.guardian_id, "relation_type": row.relation_type, "ended": True} for row in rows]
    _update_guardianships(connection, context, updates)
    for row in rows:
        outcome.guardianships_ended += 1
        outcome.events.append(publishing.guardianship("guardianship_ended", row.child_id, row.guardian_id, row.relation_type))


def _apply_enrolments(connection: Connection, context: ApplyContext, records: list[Record], outcome: Outcome) -> None:
    child_ids = [record.id for record in records]
    protected = {record.id for record in records if publishing.is_protected(record.row["security_marking"])}
    stored: dict[str, dict] = {}
    statement = select(placements).where(placements.c.child_id.in_(child_ids), placements.c.kind == "enrolment")
    for row in connection.execute(statement):
        stored.setdefault(row.child_id, {})[row.id] = row._asdict()

    new_rows, changed_rows, removed_rows = [], [], []
    for record in records:
        listed = set()
        for enrolment in record.parts["enrolments"]:
            listed.add(enrolment["id"])
            enrolment_hash = content_hash(enrolment)
            row = {**enrolment, "content_hash": enrolment_hash, "source_modified": record.modified, "removed_at": None, "updated_at": context.now}
            old = stored.get(record.id, {}).get(enrolment["id"])
            if old is None:
                new_rows.append(row)
            elif old["content_hash"] != enrolment_hash or old["removed_at"] is not None:
                changed_rows.append(row)
            else:
                continue
            outcome.events.append(publishing.placement_changed(row, record.id in protected))

        for enrolment_id, old in stored.get(record.id, {}).items():
            if enrolment_id not in listed and old["removed_at"] is None:
                removed_rows.append(old)
                outcome.events.append(publishing.placement_changed(old, record.id in protected, removed=True))

    if new_rows:
        connection.execute(insert(placements), new_rows)
    if changed_rows:
        statement = update(placements).where(placements.c.id == bindparam("row_id"))
        connection.execute(statement, [{**row, "row_id": row.pop("id")} for row in changed_rows])
    if removed_rows:
        connection.execute(
            update(placements)
            .where(placements.c.id.in_([row["id"] for row in removed_rows]))
            .values(removed_at=context.now, updated_at=context.now)
        )


def _teacher_persons(connection: Connection, duty_ids: set[str]) -> dict[str, str]:
    if not duty_ids:
        return {}
    rows = connection.execute(select(duties.c.id, duties.c.person_id).where(duties.c.id.in_(sorted(duty_ids))))
    return {row.id: row.person_id for row in rows}


def _remember_forwarded(connection: Connection, context: ApplyContext, entity: str, new: list, changed: list) -> None:
    if new:
        connection.execute(
            insert(forwarded_records),
            [
                {"entity": entity, "id": record.id, "content_hash": record.content_hash, "removed_at": None, "updated_at": context.now}
                for record in new
            ],
        )
    if changed:
        statement = (
            update(forwarded_records)
            .where(and_(forwarded_records.c.entity == entity, forwarded_records.c.id == bindparam("row_id")))
            .values(content_hash=bindparam("hash"), removed_at=None, updated_at=context.now)
        )
        connection.execute(statement, [{"row_id": record.id, "hash": record.content_hash} for record, _old in changed])


def _chunks(items: list, size: int = FORWARD_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def apply_activities(connection: Connection, context: ApplyContext, new: list, changed: list) -> Outcome:
    _remember_forwarded(connection, context, "activities", new, changed)
    outcome = Outcome(created=len(new), changed=len(changed))

    records = [*new, *(record for record, _old in changed)]
    teachers = _teacher_persons(connection, {duty_id for record in records for duty_id in record.row["teacher_duty_ids"]})
    payloads = [
        publishing.activity_payload(
            record.row, sorted({teachers[duty_id] for duty_id in record.row["teacher_duty_ids"] if duty_id in teachers})
        )
        for record in records
    ]
    for chunk in _chunks(payloads):
        outcome.events.append(("ss12000_activities_imported", {"activities": chunk, "removed_activity_ids": []}))
    return outcome


def apply_calendar_events(connection: Connection, context: ApplyContext, new: list, changed: list) -> Outcome:
    _remember_forwarded(connection, context, "calendarEvents", new, changed)
    outcome = Outcome(created=len(new), changed=len(changed))

    payloads = [publishing.calendar_event_payload(record.row) for record in [*new, *(record for record, _old in changed)]]
    for chunk in _chunks(payloads):
        outcome.events.append(
            ("ss12000_calendar_events_imported", {"calendar_events": chunk, "removed_calendar_event_ids": []})
        )
    return outcome


APPLIERS = {
    "organisations": apply_organisations,
    "persons": apply_persons,
    "groups": apply_groups,
    "duties": apply_duties,
    "placements": apply_placements,
    "activities": apply_activities,
    "calendarEvents": apply_calendar_events,
}

TABLES = {
    "organisations": organisations,
    "persons": persons,
    "groups": groups,
    "duties": duties,
    "placements": placements,
}


def stored_rows(connection: Connection, entity: str, ids: list[str]) -> dict[str, dict]:
    """Return the stored rows of ``ids`` by id: the table's row, or the forwarded record's hash."""
    if not ids:
        return {}
    if entity in TABLES:
        table = TABLES[entity]
        return {row.id: row._asdict() for row in connection.execute(select(table).where(table.c.id.in_(ids)))}
    rows = connection.execute(
        select(forwarded_records).where(forwarded_records.c.entity == entity, forwarded_records.c.id.in_(ids))
    )
    return {row.id: row._asdict() for row in rows}
