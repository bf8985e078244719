"""The access log: every read, write, finalization and refused attempt, chained by hashes.

Each entry's hash is SHA-256 over its content and the previous entry's hash,
so changing an entry breaks its own hash, and removing one breaks the link
of the entry after it. Writers append through the single head row, which
they lock with an UPDATE, so two transactions never chain onto the same
entry. ``torget-documents-audit-check`` verifies the whole chain.

NOTE: the chain detects changes made without recomputing every later hash.
Someone with write access to the database who rewrites the rest of the chain
and the head goes undetected; anchoring the head hash outside the database
(for example in the operator's log) would close that gap.
"""

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from torget_documents.access import NO_ROLE, PRINCIPAL, STAFF, Actor, Decision
from torget_documents.models import access_log, access_log_head
from torget_shared.db import utcnow

GENESIS_HASH = "0" * 64
GRANTED = "granted"
REFUSED = "refused"
FAILED = "failed"

# The fields an entry's hash covers, in this order.
HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_person_id",
    "actor_account_id",
    "actor_name",
    "actor_role",
    "duty_role",
    "assurance",
    "action",
    "document_id",
    "document_version",
    "attachment_id",
    "child_person_id",
    "decision",
    "reason",
    "prev_hash",
)

# Actions a guardian sees in the history of their child's documents.
VISIBLE_ACTIONS = ("list", "read", "read_attachment", "create", "update", "finalize", "add_attachment")


def _canonical_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def compute_hash(entry: dict) -> str:
    """Return the SHA-256 hex digest of ``entry``'s hashed fields (prev_hash included)."""
    content = {name: entry.get(name) for name in HASHED_FIELDS}
    content["occurred_at"] = _canonical_time(entry["occurred_at"])
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_entry(actor: Actor, action: str, decision: Decision | None = None, **target) -> dict:
    """Describe one access for the log; ``target`` names document_id, child_person_id and so on."""
    caller = actor.caller
    entry = {
        "actor_kind": caller.kind,
        "actor_person_id": caller.person_id,
        "actor_account_id": caller.account_id,
        "actor_name": actor.name,
        "actor_role": decision.role if decision is not None else NO_ROLE,
        "duty_role": decision.duty_role if decision is not None else None,
        "assurance": caller.assurance,
        "action": action,
        "decision": GRANTED,
        "reason": None,
    }
    entry.update({key: value for key, value in target.items() if value is not None})
    return entry


def append(session: Session, entry: dict) -> dict:
    """Append ``entry`` to the chain inside the caller's transaction and return the stored row."""
    # The UPDATE takes the head row's lock until the transaction ends, so
    # concurrent appends queue here instead of forking the chain.
    seq, prev_hash = session.execute(
        update(access_log_head)
        .where(access_log_head.c.id == 1)
        .values(seq=access_log_head.c.seq + 1)
        .returning(access_log_head.c.seq, access_log_head.c.entry_hash)
    ).one()

    row = {name: entry.get(name) for name in HASHED_FIELDS}
    row.update(seq=seq, occurred_at=utcnow(), prev_hash=prev_hash)
    row["entry_hash"] = compute_hash(row)

    session.execute(insert(access_log).values(**row))
    session.execute(update(access_log_head).where(access_log_head.c.id == 1).values(entry_hash=row["entry_hash"]))
    return row


@dataclass(frozen=True)
class ChainReport:
    entries: int
    first_broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_chain(connection, batch_size: int = 1000) -> ChainReport:
    """Check every entry's hash and link, and the head; report the first broken entry."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    result = connection.execution_options(yield_per=batch_size).execute(select(access_log).order_by(access_log.c.seq))
    for mapping in result.mappings():
        row = dict(mapping)
        seq = row["seq"]
        if seq != expected_seq:
            return ChainReport(count, expected_seq, f"entry {expected_seq} is missing (the next entry is {seq})")
        if row["prev_hash"] != prev_hash:
            return ChainReport(count, seq, f"entry {seq} does not link to entry {seq - 1}: an entry was changed or removed")
        if compute_hash(row) != row["entry_hash"]:
            return ChainReport(count, seq, f"entry {seq} was changed: its hash does not match its content")
        expected_seq, prev_hash, count = seq + 1, row["entry_hash"], count + 1

    head_seq, head_hash = connection.execute(
        select(access_log_head.c.seq, access_log_head.c.entry_hash).where(access_log_head.c.id == 1)
    ).one()
    if head_seq != count or head_hash != prev_hash:
        return ChainReport(count, count + 1, f"the log ends at entry {count}, but its head records entry {head_seq}")
    return ChainReport(count)


def child_history(session: Session, child_person_id: str, limit: int = 500) -> list[dict]:
    """Return the staff's granted accesses to a child's documents, newest first.

    Guardians' and pupils' own reads are left out, so one guardian never
    sees another guardian's details.
    """
    rows = session.execute(
        select(access_log)
        .where(
            access_log.c.child_person_id == child_person_id,
            access_log.c.actor_role.in_((STAFF, PRINCIPAL)),
            access_log.c.decision == GRANTED,
            access_log.c.action.in_(VISIBLE_ACTIONS),
        )
        .order_by(access_log.c.seq.desc())
        .limit(limit)
    ).mappings()
    return [
        {
            "occurred_at": row["occurred_at"].isoformat(),
            "actor_name": row["actor_name"],
            "actor_role": row["actor_role"],
            "duty_role": row["duty_role"],
            "action": row["action"],
            "document_id": row["document_id"],
            "document_version": row["document_version"],
        }
        for row in rows
    ]


def main(argv=None) -> int:
    """Verify the access log chain (``torget-documents-audit-check``); exit 1 when it is broken."""
    from torget_shared.config import database_url
    from torget_shared.db import make_engine

    parser = argparse.ArgumentParser(description="Verify the hash chain of the documents access log.")
    parser.add_argument(
        "--database-url",
        help="the documents database (default: DOCUMENTS_DATABASE_URL, else the SQLite file under TORGET_VAR_DIR)",
    )
    args = parser.parse_args(argv)

    engine = make_engine(args.database_url or database_url("documents"))
    try:
        with engine.connect() as connection:
            report = verify_chain(connection)
    finally:
        engine.dispose()

    if report.intact:
        print(f"access log intact: {report.entries} entries")
        return 0
    print(f"access log broken at entry {report.first_broken_seq}: {report.problem}", file=sys.stderr)
    return 1

