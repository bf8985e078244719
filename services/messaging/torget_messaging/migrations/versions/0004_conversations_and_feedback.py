"""Add conversations, feedback, and the announcements and conversations feature switches.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from torget_shared.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A unit the directory has not told about keeps both features on, as before.
    op.add_column("unit_feature", sa.Column("announcements", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("unit_feature", sa.Column("conversations", sa.Boolean(), nullable=False, server_default=sa.true()))

    op.create_table(
        "conversation",
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("child_person_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("started_by_person_id", sa.String(64), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_message_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation"),
    )
    op.create_index("ix_conversation_child_person_id", "conversation", ["child_person_id"])
    op.create_table(
        "conversation_participant",
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("last_read_seq", sa.Integer(), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.conversation_id"],
            name="fk_conversation_participant_conversation_id_conversation",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "person_id", name="pk_conversation_participant"),
    )
    op.create_index("ix_conversation_participant_person_id", "conversation_participant", ["person_id"])
    op.create_table(
        "conversation_message",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("author_person_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.conversation_id"],
            name="fk_conversation_message_conversation_id_conversation",
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_conversation_message"),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_conversation_message_conversation_id_seq"),
    )
    op.create_table(
        "feedback",
        sa.Column("feedback_id", sa.String(36), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("author_person_id", sa.String(64), nullable=False),
        sa.Column("author_role", sa.String(16), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("feedback_id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_unit_id_created_at", "feedback", ["unit_id", "created_at"])
    op.create_index("ix_feedback_author_person_id", "feedback", ["author_person_id"])
    op.create_table(
        "feedback_answer",
        sa.Column("answer_id", sa.String(36), nullable=False),
        sa.Column("feedback_id", sa.String(36), nullable=False),
        sa.Column("author_person_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["feedback_id"], ["feedback.feedback_id"], name="fk_feedback_answer_feedback_id_feedback"),
        sa.PrimaryKeyConstraint("answer_id", name="pk_feedback_answer"),
    )
    op.create_index("ix_feedback_answer_feedback_id", "feedback_answer", ["feedback_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_answer_feedback_id", table_name="feedback_answer")
    op.drop_table("feedback_answer")
    op.drop_index("ix_feedback_author_person_id", table_name="feedback")
    op.drop_index("ix_feedback_unit_id_created_at", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("conversation_message")
    op.drop_index("ix_conversation_participant_person_id", table_name="conversation_participant")
    op.drop_table("conversation_participant")
    op.drop_index("ix_conversation_child_person_id", table_name="conversation")
    op.drop_table("conversation")
    with op.batch_alter_table("unit_feature") as batch:
        batch.drop_column("conversations")
        batch.drop_column("announcements")
