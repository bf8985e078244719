"""Image attachments of logbook entries: adding and reading them under the entry's access rules."""

import uuid

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from torget_documents import crypto
from torget_documents.access import READ, WRITE
from torget_documents.context import RequestContext, document_scope
from torget_documents.documents import load_document
from torget_documents.errors import DocumentNotFound, InvalidDocument
from torget_documents.filestore import MAX_ATTACHMENTS_PER_ENTRY, check_image, stored_name
from torget_documents.models import LOGBOOK, attachments
from torget_shared.db import utcnow


def attachment_context(attachment: dict) -> str:
    """Return the associated-data context of an attachment file: its row, entry and type."""
    return f"attachment|{attachment['id']}|{attachment['document_id']}|{attachment['content_type']}"


def add_attachment(
    session: Session, ctx: RequestContext, document_id: str, data: bytes, declared_type: str | None = None
) -> dict:
    """Store an image for a logbook entry, encrypted in the file store; return its summary."""
    ctx.begin("add_attachment", document_id=document_id)
    document = load_document(session, document_id, lock=True)
    ctx.target["child_person_id"] = document["child_person_id"]
    ctx.authorize(document["kind"], document_scope(ctx, document), WRITE)
    if document["kind"] != LOGBOOK:
        raise InvalidDocument("only logbook entries take image attachments", fields={"document_id": ["Not a logbook entry."]})

    count = session.execute(
        select(func.count()).select_from(attachments).where(attachments.c.document_id == document["id"])
    ).scalar_one()
    if count >= MAX_ATTACHMENTS_PER_ENTRY:
        raise InvalidDocument(
            f"a logbook entry takes at most {MAX_ATTACHMENTS_PER_ENTRY} attachments",
            fields={"file": [f"At most {MAX_ATTACHMENTS_PER_ENTRY} attachments per entry."]},
        )
    content_type = check_image(data, declared_type, ctx.max_attachment_bytes)

    attachment = {
        "id": str(uuid.uuid4()),
        "document_id": document["id"],
        "content_type": content_type,
        "size_bytes": len(data),
        "created_by_person_id": ctx.caller.person_id,
        "created_at": utcnow(),
    }
    key_id, sealed = crypto.require(ctx.keyring).encrypt(data, attachment_context(attachment))
    attachment["key_id"] = key_id
    ctx.file_store.write(stored_name(attachment["id"], key_id), sealed)
    try:
        session.execute(insert(attachments).values(**attachment))
        ctx.record(session, attachment_id=attachment["id"])
        session.flush()
    except Exception:
        ctx.file_store.delete(stored_name(attachment["id"], key_id))
        raise

    return {
        "id": attachment["id"],
        "document_id": attachment["document_id"],
        "content_type": content_type,
        "size_bytes": len(data),
        "created_at": attachment["created_at"].isoformat(),
    }


def get_attachment(
    session: Session, ctx: RequestContext, document_id: str, attachment_id: str, via_child_person_id: str | None = None
) -> dict:
    """Return an attachment's content type and decrypted bytes, under the entry's read access."""
    ctx.begin("read_attachment", document_id=document_id, attachment_id=attachment_id, child_person_id=via_child_person_id)
    document = load_document(session, document_id)
    ctx.target["child_person_id"] = document["child_person_id"] or via_child_person_id
    ctx.authorize(document["kind"], document_scope(ctx, document, via_child_person_id), READ)

    row = session.execute(
        select(attachments).where(attachments.c.id == str(attachment_id), attachments.c.document_id == document["id"])
    ).mappings().first()
    if row is None:
        raise DocumentNotFound(f"attachment {attachment_id} not found", document_id=document_id)

    try:
        sealed = ctx.file_store.read(stored_name(row["id"], row["key_id"]))
    except FileNotFoundError:
        raise DocumentNotFound(f"the file of attachment {attachment_id} is missing", document_id=document_id) from None
    data = crypto.require(ctx.keyring).decrypt(row["key_id"], sealed, attachment_context(dict(row)))

    ctx.record(session)
    return {"id": row["id"], "content_type": row["content_type"], "size_bytes": row["size_bytes"], "data": data}
