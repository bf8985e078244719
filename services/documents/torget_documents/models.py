"""Tables of the documents service.

Document bodies and attachment files are stored only as AES-GCM ciphertext
(see :mod:`torget_documents.crypto`); the plain columns hold ids, dates and
states, which the access checks and lists need.
"""

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, LargeBinary, String, Table

from torget_shared.db import UTCDateTime, new_metadata
from torget_shared.platform_tables import add_platform_tables

metadata = new_metadata()
add_platform_tables(metadata)

LOGBOOK = "logbook"
DEVELOPMENT_TALK = "development_talk"
IUP = "iup"
DOCUMENT_KINDS = (LOGBOOK, DEVELOPMENT_TALK, IUP)

# Version states. Logbook entries and development-talk records have one
# version that is published when written and may be corrected; an IUP has
# numbered versions, each a draft until a teacher finalizes it.
PUBLISHED = "published"
DRAFT = "draft"
FINALIZED = "finalized"

documents = Table(
    "documents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    # A logbook entry concerns one child or one group; every other kind concerns a child.
    Column("child_person_id", String(64)),
    Column("group_id", String(64)),
    # The unit the document was written at. Access to a child's document follows
    # the child's current unit instead; a group entry stays with this unit.
    Column("unit_id", String(64), nullable=False),
    Column("document_date", Date, nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("created_by_person_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_documents_child_person_id", "child_person_id"),
    Index("ix_documents_unit_id_group_id", "unit_id", "group_id"),
)

document_versions = Table(
    "document_versions",
    metadata,
    Column("document_id", String(36), ForeignKey("documents.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("key_id", String(32), nullable=False),
    # nonce (12 bytes) followed by the AES-GCM ciphertext and tag of the JSON body.
    Column("body", LargeBinary, nullable=False),
    Column("created_by_person_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_by_person_id", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finalized_by_person_id", String(64)),
    Column("finalized_at", UTCDateTime()),
    Index("ix_document_versions_key_id", "key_id"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("document_id", String(36), ForeignKey("documents.id"), nullable=False),
    Column("content_type", String(50), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    # The file in the file store is named after the attachment id and this key id.
    Column("key_id", String(32), nullable=False),
    Column("created_by_person_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_attachments_document_id", "document_id"),
    Index("ix_attachments_key_id", "key_id"),
)

# The access log is append-only and chained: each entry's hash covers its
# content and the hash of the entry before it. The head row stores the
# sequence number and hash of the last entry, and writers lock it, so entries
# are appended one at a time.
access_log = Table(
    "access_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_person_id", String(64)),
    Column("actor_account_id", String(64)),
    Column("actor_name", String(200)),
    # The relation that decided the access: staff, principal, guardian, pupil or none.
    Column("actor_role", String(16), nullable=False),
    # The SS 12000 duty role of a staff member or principal, e.g. "Förskollärare".
    Column("duty_role", String(50)),
    Column("assurance", String(16)),
    Column("action", String(30), nullable=False),
    Column("document_id", String(36)),
    Column("document_version", Integer),
    Column("attachment_id", String(36)),
    Column("child_person_id", String(64)),
    Column("decision", String(16), nullable=False),
    Column("reason", String(50)),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Index("ix_access_log_child_person_id", "child_person_id"),
)

access_log_head = Table(
    "access_log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("entry_hash", String(64), nullable=False),
)
