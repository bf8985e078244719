"""Create the document, version, attachment and access-log tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from torget_shared.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("child_person_id", sa.String(64)),
        sa.Column("group_id", sa.String(64)),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("document_date", sa.Date(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_by_person_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_child_person_id", "documents", ["child_person_id"])
    op.create_index("ix_documents_unit_id_group_id", "documents", ["unit_id", "group_id"])

    op.create_table(
        "document_versions",
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_by_person_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by_person_id", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finalized_by_person_id", sa.String(64)),
        sa.Column("finalized_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("document_id", "version", name="pk_document_versions"),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_document_versions_document_id_documents"
        ),
    )
    op.create_index("ix_document_versions_key_id", "document_versions", ["key_id"])

    op.create_table(
        "attachments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_by_person_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_attachments_document_id_documents"),
    )
    op.create_index("ix_attachments_document_id", "attachments", ["document_id"])
    op.create_index("ix_attachments_key_id", "attachments", ["key_id"])

    op.create_table(
        "access_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_person_id", sa.String(64)),
        sa.Column("actor_account_id", sa.String(64)),
        sa.Column("actor_name", sa.String(200)),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("duty_role", sa.String(50)),
        sa.Column("assurance", sa.String(16)),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("document_id", sa.String(36)),
        sa.Column("document_version", sa.Integer()),
        sa.Column("attachment_id", sa.String(36)),
        sa.Column("child_person_id", sa.String(64)),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(50)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_access_log"),
    )
    op.create_index("ix_access_log_child_person_id", "access_log", ["child_person_id"])

    head = op.create_table(
        "access_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_log_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": GENESIS_HASH}])


def downgrade() -> None:
    op.drop_table("access_log_head")
    op.drop_index("ix_access_log_child_person_id", table_name="access_log")
    op.drop_table("access_log")
    op.drop_index("ix_attachments_key_id", table_name="attachments")
    op.drop_index("ix_attachments_document_id", table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("ix_document_versions_key_id", table_name="document_versions")
    op.drop_table("document_versions")
    op.drop_index("ix_documents_unit_id_group_id", table_name="documents")
    op.drop_index("ix_documents_child_person_id", table_name="documents")
    op.drop_table("documents")
