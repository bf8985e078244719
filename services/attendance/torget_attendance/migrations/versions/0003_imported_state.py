"""Record which directory event an imported activity or lesson reflects; drop stored directory replies.

The directory's import events carry the whole state of an activity or
calendar event, and a retried event may arrive after a newer one, so each
imported row keeps the ``occurred_at`` of the event it reflects. The stored
replies were of the directory's earlier interface (group_roster,
staff_duties and another child_context shape). They are a cache, so they are
deleted rather than converted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from torget_shared.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("activities", sa.Column("source_occurred_at", UTCDateTime()))
    op.add_column("lessons", sa.Column("source_occurred_at", UTCDateTime()))
    op.execute("DELETE FROM directory_answers")


def downgrade() -> None:
    op.drop_column("lessons", "source_occurred_at")
    op.drop_column("activities", "source_occurred_at")
