"""Add announcements, their translations and read receipts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

from torget_shared.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "announcement",
        sa.Column("announcement_id", sa.String(36), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("group_id", sa.String(64)),
        sa.Column("author_person_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("announcement_id", name="pk_announcement"),
    )
    op.create_index("ix_announcement_unit_id_published_at", "announcement", ["unit_id", "published_at"])
    op.create_index("ix_announcement_group_id", "announcement", ["group_id"])
    op.create_table(
        "announcement_translation",
        sa.Column("announcement_id", sa.String(36), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcement.announcement_id"],
            name="fk_announcement_translation_announcement_id_announcement",
        ),
        sa.PrimaryKeyConstraint("announcement_id", "language", name="pk_announcement_translation"),
    )
    op.create_table(
        "announcement_read",
        sa.Column("announcement_id", sa.String(36), nullable=False),
        sa.Column("guardian_person_id", sa.String(64), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcement.announcement_id"],
            name="fk_announcement_read_announcement_id_announcement",
        ),
        sa.PrimaryKeyConstraint("announcement_id", "guardian_person_id", name="pk_announcement_read"),
    )


def downgrade() -> None:
    op.drop_table("announcement_read")
    op.drop_table("announcement_translation")
    op.drop_index("ix_announcement_group_id", table_name="announcement")
    op.drop_index("ix_announcement_unit_id_published_at", table_name="announcement")
    op.drop_table("announcement")
