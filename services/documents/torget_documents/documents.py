"""Logbook entries, development-talk records and IUPs: writing, versions, reading and lists.

Every function checks access through the request context, appends the
access to the log in the same transaction, and stores bodies only as
ciphertext. An IUP version that a teacher has finalized never changes: an
edit after finalization creates a new draft version.
"""

import json
import uuid
from datetime import date

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from torget_documents import crypto
from torget_documents.access import FINALIZE, GUARDIAN, PUPIL, READ, WRITE, child_scope, decide, group_scope, staff_duty
from torget_documents.context import RequestContext, document_scope, refusal
from torget_documents.errors import DocumentNotFound, InvalidDocument, VersionConflict, VersionFinalized
from torget_documents.models import (
    DEVELOPMENT_TALK,
    DOCUMENT_KINDS,
    DRAFT,
    FINALIZED,
    IUP,
    LOGBOOK,
    PUBLISHED,
    attachments,
    document_versions,
    documents,
)
from torget_shared.db import utcnow

MAX_TEXT = 20_000


class LogbookBody(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))


class DevelopmentTalkBody(Schema):
    participants = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)), required=True, validate=validate.Length(min=1, max=30)
    )
    notes = fields.String(required=True, validate=validate.Length(max=MAX_TEXT))
    agreed_actions = fields.List(
        fields.String(validate=validate.Length(min=1, max=2000)), load_default=list, validate=validate.Length(max=50)
    )


class IupSubject(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=100))
    goals = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    assessment = fields.String(load_default="", validate=validate.Length(max=5000))


class IupBody(Schema):
    subjects = fields.List(fields.Nested(IupSubject), required=True, validate=validate.Length(min=1, max=40))
    summary = fields.String(load_default="", validate=validate.Length(max=MAX_TEXT))


BODY_SCHEMAS = {LOGBOOK: LogbookBody, DEVELOPMENT_TALK: DevelopmentTalkBody, IUP: IupBody}


def _flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = [str(message) for message in value]
    return flat


def validate_body(kind: str, body) -> dict:
    """Return the loaded body of a document of ``kind``, or raise InvalidDocument with field messages."""
    if not isinstance(body, dict):
        raise InvalidDocument("the document body must be an object", fields={"body": ["Not a valid mapping type."]})
    try:
        return BODY_SCHEMAS[kind]().load(body)
    except ValidationError as exc:
        raise InvalidDocument("the document body is invalid", fields=_flatten(exc.messages, "body")) from None


def parse_date(value, field_name: str = "document_date") -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidDocument(f"{field_name} must be a date as YYYY-MM-DD", fields={field_name: ["Not a valid date."]})


def version_context(document: dict, version: int) -> str:
    """Return the associated-data context of a version body: its row and the document's owner."""
    return (
        f"document_version|{document['id']}|{version}|{document['kind']}"
        f"|{document['child_person_id'] or '-'}|{document['group_id'] or '-'}"
    )


def _seal_body(ctx: RequestContext, document: dict, version: int, body: dict) -> tuple[str, bytes]:
    plaintext = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
    return crypto.require(ctx.keyring).encrypt(plaintext, version_context(document, version))


def _open_body(ctx: RequestContext, document: dict, version_row: dict) -> dict:
    plaintext = crypto.require(ctx.keyring).decrypt(
        version_row["key_id"], version_row["body"], version_context(document, version_row["version"])
    )
    return json.loads(plaintext)


def load_document(session: Session, document_id: str, lock: bool = False) -> dict:
    try:
        uuid.UUID(str(document_id))
    except ValueError:
        raise DocumentNotFound(f"document {document_id} not found", document_id=str(document_id)[:64]) from None
    query = select(documents).where(documents.c.id == str(document_id))
    if lock:
        query = query.with_for_update()
    row = session.execute(query).mappings().first()
    if row is None:
        raise DocumentNotFound(f"document {document_id} not found", document_id=document_id)
    return dict(row)


def _versions(session: Session, document_id: str) -> list[dict]:
    rows = session.execute(
        select(document_versions).where(document_versions.c.document_id == document_id).order_by(document_versions.c.version)
    ).mappings()
    return [dict(row) for row in rows]


def _attachment_summaries(session: Session, document_id: str) -> list[dict]:
    rows = session.execute(
        select(attachments.c.id, attachments.c.content_type, attachments.c.size_bytes, attachments.c.created_at)
        .where(attachments.c.document_id == document_id)
        .order_by(attachments.c.created_at)
    ).mappings()
    return [
        {"id": row["id"], "content_type": row["content_type"], "size_bytes": row["size_bytes"],
         "created_at": row["created_at"].isoformat()}
        for row in rows
    ]


def _version_summary(row: dict) -> dict:
    return {
        "version": row["version"],
        "state": row["state"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "finalized_at": row["finalized_at"].isoformat() if row["finalized_at"] else None,
    }


def _summary(document: dict) -> dict:
    return {
        "id": document["id"],
        "kind": document["kind"],
        "child_person_id": document["child_person_id"],
        "group_id": document["group_id"],
        "unit_id": document["unit_id"],
        "document_date": document["document_date"].isoformat(),
        "latest_version": document["latest_version"],
        "created_by_person_id": document["created_by_person_id"],
        "created_at": document["created_at"].isoformat(),
        "updated_at": document["updated_at"].isoformat(),
    }


def _visible_versions(ctx: RequestContext, versions: list[dict]) -> list[dict]:
    """Return the versions the caller may read: staff see drafts, families only finalized IUP versions."""
    if ctx.decision is not None and ctx.decision.role in (GUARDIAN, PUPIL):
        return [row for row in versions if row["state"] != DRAFT]
    return versions


def create_document(
    session: Session,
    ctx: RequestContext,
    publish,
    kind: str,
    document_date,
    body,
    child_person_id: str | None = None,
    group_id: str | None = None,
) -> dict:
    """Write a new document; a logbook entry or talk record is published, an IUP starts as a draft."""
    ctx.begin("create", child_person_id=child_person_id)
    if kind not in DOCUMENT_KINDS:
        raise InvalidDocument(f"kind must be one of {', '.join(DOCUMENT_KINDS)}", fields={"kind": ["Invalid kind."]})
    if (child_person_id is None) == (group_id is None) or (group_id is not None and kind != LOGBOOK):
        raise InvalidDocument(
            "name either a child, or a group for a logbook entry",
            fields={"child_person_id": ["Name a child or, for a logbook entry, a group."]},
        )
    loaded_date = parse_date(document_date)
    loaded_body = validate_body(kind, body)

    if child_person_id is not None:
        scope = child_scope(ctx.directory.child(child_person_id))
    else:
        # The group must belong to a unit where the writer has a duty.
        entry_unit = ctx.actor.group_units.get(group_id)
        scope = group_scope(entry_unit, group_id) if entry_unit else None
    ctx.authorize(kind, scope, WRITE)

    now = utcnow()
    document = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "child_person_id": child_person_id,
        "group_id": group_id,
        "unit_id": staff_duty(ctx.actor, scope).unit_id,
        "document_date": loaded_date,
        "latest_version": 1,
        "created_by_person_id": ctx.caller.person_id,
        "created_at": now,
        "updated_at": now,
    }
    session.execute(insert(documents).values(**document))
    state = DRAFT if kind == IUP else PUBLISHED
    _insert_version(session, ctx, document, 1, state, loaded_body, now)

    ctx.record(session, document_id=document["id"], document_version=1)
    if state == PUBLISHED:
        _publish(publish, session, document, 1, now)
    return _full(document, [_version_row(document, 1, state, ctx, now)], 1, loaded_body, [])


def _version_row(document: dict, version: int, state: str, ctx: RequestContext, now) -> dict:
    return {
        "document_id": document["id"],
        "version": version,
        "state": state,
        "created_by_person_id": ctx.caller.person_id,
        "created_at": now,
        "updated_by_person_id": ctx.caller.person_id,
        "updated_at": now,
        "finalized_by_person_id": None,
        "finalized_at": None,
    }


def _insert_version(session: Session, ctx: RequestContext, document: dict, version: int, state: str, body: dict, now):
    key_id, sealed = _seal_body(ctx, document, version, body)
    row = _version_row(document, version, state, ctx, now)
    session.execute(insert(document_versions).values(**row, key_id=key_id, body=sealed))


def _publish(publish, session: Session, document: dict, version: int, now) -> None:
    publish(
        session,
        "document_published",
        {
            "document_id": document["id"],
            "kind": document["kind"],
            "child_person_id": document["child_person_id"],
            "group_id": document["group_id"],
            "unit_id": document["unit_id"],
            "version": version,
            "published_at": now.isoformat(),
        },
    )


def _full(document: dict, versions: list[dict], version: int, body: dict, attachment_list: list[dict]) -> dict:
    result = _summary(document)
    result["version"] = version
    result["state"] = next(row["state"] for row in versions if row["version"] == version)
    result["body"] = body
    result["versions"] = [_version_summary(row) for row in versions]
    result["attachments"] = attachment_list
    return result


def get_document(
    session: Session, ctx: RequestContext, document_id: str, via_child_person_id: str | None = None, version: int | None = None
) -> dict:
    """Return a document with the body of one version (by default the latest the caller may read)."""
    ctx.begin("read", document_id=document_id, child_person_id=via_child_person_id)
    document = load_document(session, document_id)
    ctx.target["child_person_id"] = document["child_person_id"] or via_child_person_id
    ctx.authorize(document["kind"], document_scope(ctx, document, via_child_person_id), READ)

    versions = _visible_versions(ctx, _versions(session, document["id"]))
    chosen = _choose_version(versions, version, document_id)
    ctx.target["document_version"] = chosen["version"]
    body = _open_body(ctx, document, chosen)

    ctx.record(session)
    return _full(document, versions, chosen["version"], body, _attachment_summaries(session, document["id"]))


def _choose_version(versions: list[dict], version: int | None, document_id: str) -> dict:
    if not versions:
        raise DocumentNotFound(f"document {document_id} not found", document_id=document_id)
    if version is None:
        return versions[-1]
    for row in versions:
        if row["version"] == version:
            return row
    raise DocumentNotFound(f"document {document_id} has no version {version}", document_id=document_id)


def list_documents(session: Session, ctx: RequestContext, child_person_id: str, kind: str | None = None) -> list[dict]:
    """Return the summaries (no bodies) of a child's documents and of the logbook entries of the child's groups."""
    ctx.begin("list", child_person_id=child_person_id)
    if kind is not None and kind not in DOCUMENT_KINDS:
        raise InvalidDocument(f"kind must be one of {', '.join(DOCUMENT_KINDS)}", fields={"kind": ["Invalid kind."]})
    child = ctx.directory.child(child_person_id)
    scope = child_scope(child)
    features = ctx.directory.features(scope.unit_ids) if scope is not None else {}

    kinds = [kind] if kind else list(DOCUMENT_KINDS)
    decisions = {name: _decide(ctx, name, scope, features) for name in kinds}
    readable = [name for name, decision in decisions.items() if decision.allowed]
    if not readable:
        ctx.decision = _first_refusal(decisions.values())
        raise refusal(ctx.decision.reason, ctx.target)
    ctx.decision = decisions[readable[0]]

    rows = session.execute(
        select(documents)
        .where(
            documents.c.kind.in_(readable),
            or_(
                documents.c.child_person_id == child_person_id,
                and_(
                    documents.c.child_person_id.is_(None),
                    documents.c.unit_id.in_(sorted(child.unit_ids)),
                    documents.c.group_id.in_(sorted(child.group_ids)),
                ),
            ),
        )
        .order_by(documents.c.document_date.desc(), documents.c.created_at.desc())
    ).mappings()

    result = []
    for row in rows:
        document = dict(row)
        summary = _summary_for_caller(session, ctx, document, child, features)
        if summary is not None:
            result.append(summary)

    ctx.record(session)
    return result


def _decide(ctx: RequestContext, kind: str, scope, features: dict):
    return decide(ctx.actor, kind, scope, features, READ)


def _first_refusal(decisions):
    """Return the refusal to report for a list: BankID first, because the caller may then log in and read."""
    decisions = list(decisions)
    for decision in decisions:
        if decision.reason == "bankid_required":
            return decision
    return decisions[0]


def _summary_for_caller(session: Session, ctx: RequestContext, document: dict, child, features: dict) -> dict | None:
    if document["child_person_id"] is None:
        decision = _decide(ctx, document["kind"], group_scope(document["unit_id"], document["group_id"], child), features)
        if not decision.allowed:
            return None
    else:
        decision = ctx.decision

    versions = _versions(session, document["id"])
    if decision.role in (GUARDIAN, PUPIL):
        versions = [row for row in versions if row["state"] != DRAFT]
    if not versions:
        return None

    summary = _summary(document)
    summary["version"] = versions[-1]["version"]
    summary["state"] = versions[-1]["state"]
    return summary


def update_document(
    session: Session,
    ctx: RequestContext,
    document_id: str,
    body,
    base_version: int | None = None,
    document_date=None,
) -> dict:
    """Change a document's body.

    A logbook entry or talk record is corrected in place. An IUP's draft is
    changed in place; when the latest version is finalized, a new draft
    version is created from the edit and the finalized one stays as it was.
    ``base_version`` is the version the edit was made from: an edit based on
    an older version than the latest is a VersionConflict.
    """
    ctx.begin("update", document_id=document_id)
    document = load_document(session, document_id, lock=True)
    ctx.target["child_person_id"] = document["child_person_id"]
    ctx.authorize(document["kind"], document_scope(ctx, document), WRITE)
    loaded_body = validate_body(document["kind"], body)
    loaded_date = parse_date(document_date) if document_date is not None else document["document_date"]

    latest = document["latest_version"]
    if base_version is not None and base_version != latest:
        raise VersionConflict(
            f"the edit is based on version {base_version}, but the latest version is {latest}",
            base_version=base_version,
            latest_version=latest,
        )

    versions = _versions(session, document["id"])
    now = utcnow()
    if versions[-1]["state"] == FINALIZED:
        latest += 1
        _insert_version(session, ctx, document, latest, DRAFT, loaded_body, now)
    else:
        key_id, sealed = _seal_body(ctx, document, latest, loaded_body)
        session.execute(
            update(document_versions)
            .where(document_versions.c.document_id == document["id"], document_versions.c.version == latest)
            .values(key_id=key_id, body=sealed, updated_by_person_id=ctx.caller.person_id, updated_at=now)
        )
    session.execute(
        update(documents)
        .where(documents.c.id == document["id"])
        .values(latest_version=latest, document_date=loaded_date, updated_at=now)
    )
    document.update(latest_version=latest, document_date=loaded_date, updated_at=now)

    ctx.record(session, document_version=latest)
    versions = _versions(session, document["id"])
    return _full(document, versions, latest, loaded_body, _attachment_summaries(session, document["id"]))


def finalize_iup(session: Session, ctx: RequestContext, publish, document_id: str, version: int) -> dict:
    """Finalize the latest draft version of an IUP; a teacher's act that cannot be undone."""
    ctx.begin("finalize", document_id=document_id, document_version=version)
    document = load_document(session, document_id, lock=True)
    ctx.target["child_person_id"] = document["child_person_id"]
    if document["kind"] != IUP:
        ctx.authorize(document["kind"], document_scope(ctx, document), READ)
        raise InvalidDocument("only an IUP has versions to finalize", fields={"document_id": ["Not an IUP."]})
    ctx.authorize(IUP, document_scope(ctx, document), FINALIZE)

    versions = {row["version"]: row for row in _versions(session, document["id"])}
    target = versions.get(version)
    if target is None:
        raise DocumentNotFound(f"document {document_id} has no version {version}", document_id=document_id)
    if target["state"] == FINALIZED:
        raise VersionFinalized(f"version {version} is already finalized and cannot change", version=version)
    if version != document["latest_version"]:
        raise VersionConflict(
            f"version {version} is not the latest version {document['latest_version']}",
            base_version=version,
            latest_version=document["latest_version"],
        )

    now = utcnow()
    session.execute(
        update(document_versions)
        .where(
            document_versions.c.document_id == document["id"],
            document_versions.c.version == version,
            document_versions.c.state == DRAFT,
        )
        .values(state=FINALIZED, finalized_by_person_id=ctx.caller.person_id, finalized_at=now)
    )
    session.execute(update(documents).where(documents.c.id == document["id"]).values(updated_at=now))
    document["updated_at"] = now

    ctx.record(session)
    _publish(publish, session, document, version, now)
    finalized = _versions(session, document["id"])
    body = _open_body(ctx, document, next(row for row in finalized if row["version"] == version))
    return _full(document, finalized, version, body, [])
