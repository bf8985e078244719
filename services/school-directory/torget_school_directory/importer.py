"""The SS 12000 import: read a source, check every record, apply it in bulk, report.

An import reads the entities in the order of ``ss12000.ENTITIES``, so every
reference points at an entity imported before it. Each page of a source is
applied in batches. A batch is one transaction: the records of the batch
that pass their checks are compared with the stored rows by content hash,
and only the new and changed ones are written, with their events. If the
batch's statements fail, the batch is applied again one record at a time,
each in its own savepoint, and the record that fails is rejected. A record
is therefore applied whole or not at all.

After each page the importer stores the page token of the next one, in the
transaction of the page's last batch. An import that stops on a source
error resumes from that token on the next run. When an entity has been read
to its last page, the highest ``meta.modified`` seen becomes the watermark
that the next run passes as ``meta.modified.after``.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from marshmallow import ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from torget_shared.context import new_correlation_id, reset_correlation_id, set_correlation_id
from torget_shared.db import utcnow

from torget_school_directory import appliers, publishing, records, ss12000
from torget_school_directory.models import forwarded_records, group_memberships, import_runs, placements, sync_state
from torget_school_directory.sources import SourceError

log = logging.getLogger(__name__)

STOCKHOLM = ZoneInfo("Europe/Stockholm")

# The report lists at most this many rejected records; it counts all of them.
MAX_LISTED_REJECTIONS = 1000

DELETIONS = "deletedEntities"

REFERENCE_LABELS = {"organisations": "organisation", "persons": "person", "groups": "group", "activities": "activity"}


def school_today() -> date:
    """Return today's date in Sweden, the date that decides what is current."""
    return datetime.now(STOCKHOLM).date()


@dataclass
class EntityCounts:
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    ended: int = 0
    removed: int = 0
    rejected: int = 0


@dataclass
class ImportReport:
    """What one import run did; ``to_dict`` is what the command prints and the RPC returns."""

    source: str
    status: str = "running"
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    records: int = 0
    entities: dict = field(default_factory=lambda: {entity: EntityCounts() for entity in ss12000.ENTITIES})
    guardianships_established: int = 0
    guardianships_ended: int = 0
    rejections: list = field(default_factory=list)
    error: str | None = None

    def reject(self, entity: str, record_id, reason: str) -> None:
        self.entities[entity].rejected += 1
        if len(self.rejections) < MAX_LISTED_REJECTIONS:
            self.rejections.append({"entity": entity, "id": record_id, "reason": reason})

    @property
    def changes(self) -> int:
        """The number of records and guardianships this run created, changed, ended or removed."""
        counted = sum(c.created + c.changed + c.ended + c.removed for c in self.entities.values())
        return counted + self.guardianships_established + self.guardianships_ended

    @property
    def seconds(self) -> float:
        end = self.finished_at or utcnow()
        return max((end - self.started_at).total_seconds(), 1e-6)

    def to_dict(self) -> dict:
        rejected = sum(counts.rejected for counts in self.entities.values())
        return {
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "records": self.records,
            "records_per_second": round(self.records / self.seconds, 1),
            "changes": self.changes,
            "entities": {entity: asdict(counts) for entity, counts in self.entities.items()},
            "guardianships": {"established": self.guardianships_established, "ended": self.guardianships_ended},
            "rejected": self.rejections,
            "rejected_not_listed": rejected - len(self.rejections),
        }


def _load_state(connection: Connection, source: str, entity: str) -> dict:
    row = connection.execute(
        select(sync_state).where(sync_state.c.source == source[:300], sync_state.c.entity == entity)
    ).first()
    if row is None:
        return {"modified_after": None, "pending_modified_after": None, "resume_page_token": None}
    return row._asdict()


def _save_state(connection: Connection, source: str, entity: str, **values) -> None:
    key = {"source": source[:300], "entity": entity}
    values["updated_at"] = utcnow()
    updated = connection.execute(
        update(sync_state).where(sync_state.c.source == key["source"], sync_state.c.entity == entity).values(**values)
    )
    if updated.rowcount == 0:
        connection.execute(insert(sync_state).values(**key, **values))


def _later(first: str | None, second: datetime | None) -> str | None:
    if second is None:
        return first
    if first is None or records.parse_timestamp(first) < second:
        return second.isoformat()
    return first


class Importer:
    """Imports SS 12000 sources into the directory database behind ``engine``."""

    def __init__(self, engine: Engine, protector, batch_size: int = 1000, today: date | None = None):
        self.engine = engine
        self.batch_size = batch_size
        self.today = today
        self.readers = {
            "organisations": records.read_organisation,
            "persons": partial(records.read_person, protector=protector),
            "groups": records.read_group,
            "duties": records.read_duty,
            "placements": records.read_placement,
            "activities": records.read_activity,
            "calendarEvents": records.read_calendar_event,
        }

    def run(self, source) -> ImportReport:
        """Import everything the source has changed since the last complete run, and return the report."""
        report = ImportReport(source.name)
        token = set_correlation_id(new_correlation_id())
        run_id = self._start_run(source.name, report)
        log.info("SS 12000 import %d started from %s", run_id, source.name)
        try:
            for entity in ss12000.ENTITIES:
                self._import_entity(source, entity, report)
            self._import_deletions(source, report)
            report.status = "complete"
        except SourceError as exc:
            report.status = "interrupted"
            report.error = str(exc)
            log.error("SS 12000 import %d interrupted: %s", run_id, exc)
        except Exception as exc:
            report.status = "failed"
            report.error = f"{exc.__class__.__name__}: {exc}"
            log.exception("SS 12000 import %d failed", run_id)
            raise
        finally:
            report.finished_at = utcnow()
            self._finish_run(run_id, report)
            reset_correlation_id(token)
        log.info(
            "SS 12000 import %d %s: %d records, %d changes, %.0f records/s",
            run_id,
            report.status,
            report.records,
            report.changes,
            report.records / report.seconds,
        )
        return report

    def _start_run(self, source_name: str, report: ImportReport) -> int:
        with self.engine.begin() as connection:
            result = connection.execute(
                insert(import_runs).values(source=source_name[:300], status="running", started_at=report.started_at)
            )
            return result.inserted_primary_key[0]

    def _finish_run(self, run_id: int, report: ImportReport) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(import_runs)
                .where(import_runs.c.id == run_id)
                .values(status=report.status, finished_at=report.finished_at, report=report.to_dict())
            )

    def _context(self) -> appliers.ApplyContext:
        return appliers.ApplyContext(now=utcnow(), today=self.today or school_today())

    def _import_entity(self, source, entity: str, report: ImportReport) -> None:
        with self.engine.connect() as connection:
            state = _load_state(connection, source.name, entity)
        resume_token = state["resume_page_token"]
        pending = state["pending_modified_after"] if resume_token else None
        if resume_token:
            log.info("resuming %s of %s from the stored page token", entity, source.name)

        seen: set[str] = set()
        for page in source.pages(entity, modified_after=state["modified_after"], page_token=resume_token):
            batches = [page.records[i : i + self.batch_size] for i in range(0, len(page.records), self.batch_size)] or [[]]
            for number, batch in enumerate(batches, start=1):
                with self.engine.begin() as connection:
                    newest = self._apply_batch(connection, entity, batch, seen, report)
                    pending = _later(pending, newest)
                    if number == len(batches):
                        _save_state(
                            connection,
                            source.name,
                            entity,
                            resume_page_token=page.next_page_token,
                            pending_modified_after=pending,
                        )

        with self.engine.begin() as connection:
            _save_state(
                connection,
                source.name,
                entity,
                modified_after=pending or state["modified_after"],
                pending_modified_after=None,
                resume_page_token=None,
            )

    def _check(self, entity: str, batch: list, seen: set[str], report: ImportReport) -> list[records.Record]:
        checked = []
        for raw in batch:
            report.records += 1
            record_id = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(raw, dict):
                report.reject(entity, None, "the record is not a JSON object")
                continue
            try:
                record = self.readers[entity](raw)
            except records.RecordRejected as exc:
                report.reject(entity, record_id, str(exc))
                continue
            if record.id in seen:
                report.reject(entity, record.id, "duplicate id: a record with this id came earlier in this import")
                continue
            seen.add(record.id)
            checked.append(record)
        return checked

    def _existing_ids(self, connection: Connection, kind: str, ids: set[str]) -> set[str]:
        if not ids:
            return set()
        if kind == "activities":
            statement = select(forwarded_records.c.id).where(
                forwarded_records.c.entity == "activities",
                forwarded_records.c.id.in_(sorted(ids)),
                forwarded_records.c.removed_at.is_(None),
            )
        else:
            table = appliers.TABLES[kind]
            statement = select(table.c.id).where(table.c.id.in_(sorted(ids)), table.c.removed_at.is_(None))
        return set(connection.scalars(statement))

    def _resolve_references(self, connection, entity: str, checked: list, report: ImportReport) -> list:
        wanted: dict[str, set[str]] = {}
        for record in checked:
            for kind, ids in record.references.items():
                wanted.setdefault(kind, set()).update(ids)
        existing = {kind: self._existing_ids(connection, kind, ids) for kind, ids in wanted.items()}

        resolved = []
        for record in checked:
            missing = [
                (kind, reference)
                for kind, ids in record.references.items()
                for reference in sorted(ids)
                if reference not in existing[kind]
            ]
            if missing:
                kind, reference = missing[0]
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                report.reject(entity, record.id, f"{REFERENCE_LABELS[kind]} {reference} not found{more}")
                continue
            resolved.append(record)
        return resolved

    def _apply_batch(self, connection: Connection, entity: str, batch: list, seen: set, report: ImportReport):
        checked = self._check(entity, batch, seen, report)
        resolved = self._resolve_references(connection, entity, checked, report)
        stored = appliers.stored_rows(connection, entity, [record.id for record in resolved])

        counts = report.entities[entity]
        new, changed = [], []
        for record in resolved:
            old = stored.get(record.id)
            if old is None:
                new.append(record)
            elif old["content_hash"] != record.content_hash or old["removed_at"] is not None:
                changed.append((record, old))
            else:
                counts.unchanged += 1

        self._write(connection, entity, new, changed, report)
        modified = [record.modified for record in checked if record.modified is not None]
        return max(modified) if modified else None

    def _write(self, connection: Connection, entity: str, new: list, changed: list, report: ImportReport) -> None:
        applier = appliers.APPLIERS[entity]
        context = self._context()
        try:
            with connection.begin_nested():
                outcome = applier(connection, context, new, changed)
                publishing.write_events(connection, outcome.events)
            self._count(entity, outcome, report)
            return
        except (DBAPIError, ValidationError) as exc:
            log.warning("a batch of %s failed (%s); applying its records one by one", entity, exc.__class__.__name__)

        for item in [*((record, None) for record in new), *changed]:
            record = item[0]
            single_new, single_changed = ([record], []) if item[1] is None else ([], [item])
            try:
                with connection.begin_nested():
                    outcome = applier(connection, context, single_new, single_changed)
                    publishing.write_events(connection, outcome.events)
            except (DBAPIError, ValidationError) as exc:
                report.reject(entity, record.id, _database_reason(exc))
                continue
            self._count(entity, outcome, report)

    @staticmethod
    def _count(entity: str, outcome: appliers.Outcome, report: ImportReport) -> None:
        counts = report.entities[entity]
        counts.created += outcome.created
        counts.changed += outcome.changed
        counts.ended += outcome.ended
        report.guardianships_established += outcome.guardianships_established
        report.guardianships_ended += outcome.guardianships_ended

    def _import_deletions(self, source, report: ImportReport) -> None:
        with self.engine.connect() as connection:
            state = _load_state(connection, source.name, DELETIONS)
        fetched_at = utcnow()
        deleted = source.deleted_entities(after=state["modified_after"])

        with self.engine.begin() as connection:
            context = self._context()
            outcome = appliers.Outcome()
            for entity, keys in ss12000.DELETED_ENTITY_KEYS.items():
                ids = sorted({_canonical_id(value) for key in keys for value in deleted.get(key) or []} - {None})
                if ids:
                    report.entities[entity].removed += remove_records(connection, context, entity, ids, outcome)
            publishing.write_events(connection, outcome.events)
            report.guardianships_ended += outcome.guardianships_ended
            _save_state(connection, source.name, DELETIONS, modified_after=fetched_at.isoformat())


def _canonical_id(value) -> str | None:
    try:
        return records.parse_uuid(value, "id")
    except records.RecordRejected:
        return None


def _database_reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return f"the record's event breaks its contract: {exc.messages}"
    text = str(getattr(exc, "orig", exc))
    if "ix_persons_pin_hash" in text:
        return "the personal identity number belongs to another person in the directory"
    return f"the database rejected the record: {text.splitlines()[0][:200]}"


def remove_records(connection: Connection, context: appliers.ApplyContext, entity: str, ids: list, outcome) -> int:
    """Mark records deleted at the source as removed, with what depends on them; return how many."""
    if entity in ("activities", "calendarEvents"):
        removed = list(
            connection.scalars(
                update(forwarded_records)
                .where(
                    forwarded_records.c.entity == entity,
                    forwarded_records.c.id.in_(ids),
                    forwarded_records.c.removed_at.is_(None),
                )
                .values(removed_at=context.now, updated_at=context.now)
                .returning(forwarded_records.c.id)
            )
        )
        if removed and entity == "activities":
            outcome.events.append(("ss12000_activities_imported", {"activities": [], "removed_activity_ids": removed}))
        elif removed:
            outcome.events.append(
                ("ss12000_calendar_events_imported", {"calendar_events": [], "removed_calendar_event_ids": removed})
            )
        return len(removed)

    table = appliers.TABLES[entity]
    removed_rows = connection.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.removed_at.is_(None))
        .values(removed_at=context.now, updated_at=context.now)
        .returning(*table.c)
    ).all()
    removed = [row._asdict() for row in removed_rows]
    removed_ids = [row["id"] for row in removed]
    if not removed_ids:
        return 0

    if entity == "persons":
        for row in removed:
            outcome.events.append(publishing.person_changed(row, removed=True))
        appliers.end_guardianships(connection, context, removed_ids, outcome)
        connection.execute(delete(group_memberships).where(group_memberships.c.person_id.in_(removed_ids)))
        _remove_placements(connection, context, placements.c.child_id.in_(removed_ids), outcome)
    elif entity == "placements":
        protected = appliers.protected_children(connection, {row["child_id"] for row in removed})
        for row in removed:
            outcome.events.append(publishing.placement_changed(row, row["child_id"] in protected, removed=True))
    elif entity == "groups":
        connection.execute(delete(group_memberships).where(group_memberships.c.group_id.in_(removed_ids)))
    return len(removed_ids)


def _remove_placements(connection: Connection, context, condition, outcome) -> None:
    rows = connection.execute(
        update(placements)
        .where(condition, placements.c.removed_at.is_(None))
        .values(removed_at=context.now, updated_at=context.now)
        .returning(*placements.c)
    ).all()
    protected = appliers.protected_children(connection, {row.child_id for row in rows})
    for row in rows:
        outcome.events.append(publishing.placement_changed(row._asdict(), row.child_id in protected, removed=True))

