"""Add the read model, absence notices and the delivery ledger.

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


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("email", sa.String(320)),
        sa.Column("mobile", sa.String(20)),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("sms_enabled", sa.Boolean(), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("protected_identity", sa.Boolean(), nullable=False),
        sa.Column("source_occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name="pk_contact"),
    )
    op.create_table(
        "person",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("given_name", sa.String(200)),
        sa.Column("family_name", sa.String(200)),
        sa.Column("protected_identity", sa.Boolean(), nullable=False),
        sa.Column("source_occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name="pk_person"),
    )
    op.create_table(
        "guardianship",
        sa.Column("child_person_id", sa.String(64), nullable=False),
        sa.Column("guardian_person_id", sa.String(64), nullable=False),
        sa.Column("custody", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source_occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("child_person_id", "guardian_person_id", name="pk_guardianship"),
    )
    op.create_table(
        "unit_feature",
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("attendance_sms_notices", sa.Boolean(), nullable=False),
        sa.Column("source_occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("unit_id", name="pk_unit_feature"),
    )
    op.create_table(
        "absence_notice",
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36)),
        sa.Column("child_person_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("lesson_id", sa.String(64)),
        sa.Column("lesson_name", sa.String(200)),
        sa.Column("local_date", sa.Date()),
        sa.Column("local_start_time", sa.String(5)),
        sa.Column("local_end_time", sa.String(5)),
        sa.Column("kind", sa.String(16)),
        sa.Column("late_minutes", sa.Integer()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("withdrawal_event_id", sa.String(36)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("notice_id", name="pk_absence_notice"),
        sa.UniqueConstraint("registration_id", name="uq_absence_notice_registration_id"),
    )
    op.create_index("ix_absence_notice_unit_id_local_date", "absence_notice", ["unit_id", "local_date"])
    op.create_index("ix_absence_notice_child_person_id", "absence_notice", ["child_person_id"])
    op.create_table(
        "notice_guardian",
        sa.Column("notice_id", sa.String(36), nullable=False),
        sa.Column("guardian_person_id", sa.String(64), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["absence_notice.notice_id"], name="fk_notice_guardian_notice_id_absence_notice"
        ),
        sa.PrimaryKeyConstraint("notice_id", "guardian_person_id", name="pk_notice_guardian"),
    )
    op.create_table(
        "delivery",
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("notice_id", sa.String(36)),
        sa.Column("corrects_delivery_id", sa.String(36)),
        sa.Column("address", sa.String(320)),
        sa.Column("recipient_protected", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text()),
        sa.Column("body", sa.Text()),
        sa.Column("html_body", sa.Text()),
        sa.Column("sms_encoding", sa.String(8)),
        sa.Column("sms_segments", sa.Integer()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("attempt_started_at", UTCDateTime()),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("provider_message_id", sa.String(128)),
        sa.Column("last_error", sa.Text()),
        sa.Column("correlation_id", sa.String(128)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.ForeignKeyConstraint(["notice_id"], ["absence_notice.notice_id"], name="fk_delivery_notice_id_absence_notice"),
        sa.ForeignKeyConstraint(
            ["corrects_delivery_id"], ["delivery.delivery_id"], name="fk_delivery_corrects_delivery_id_delivery"
        ),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_delivery"),
        sa.UniqueConstraint("event_id", "recipient", "channel", name="uq_delivery_event_id_recipient_channel"),
    )
    op.create_index("ix_delivery_state_next_attempt_at", "delivery", ["state", "next_attempt_at"])
    op.create_index("ix_delivery_notice_id", "delivery", ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_notice_id", table_name="delivery")
    op.drop_index("ix_delivery_state_next_attempt_at", table_name="delivery")
    op.drop_table("delivery")
    op.drop_table("notice_guardian")
    op.drop_index("ix_absence_notice_child_person_id", table_name="absence_notice")
    op.drop_index("ix_absence_notice_unit_id_local_date", table_name="absence_notice")
    op.drop_table("absence_notice")
    op.drop_table("unit_feature")
    op.drop_table("guardianship")
    op.drop_table("person")
    op.drop_table("contact")
