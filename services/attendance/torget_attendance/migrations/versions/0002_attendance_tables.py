"""Create the schedule, attendance, absence report, lesson plan and rule tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from torget_shared.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = 36
PERSON_ID = 64


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("activity_type", sa.String(32)),
        sa.Column("subject", sa.String(200)),
        sa.Column("group_ids", sa.JSON(), nullable=False),
        sa.Column("teacher_person_ids", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_activities"),
    )
    op.create_table(
        "lessons",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("activity_id", sa.String(ID)),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("room", sa.String(200)),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(PERSON_ID)),
        sa.CheckConstraint("ends_at > starts_at", name="ck_lessons_ends_after_start"),
        sa.PrimaryKeyConstraint("id", name="pk_lessons"),
    )
    op.create_index("ix_lessons_unit_id_local_date", "lessons", ["unit_id", "local_date"])
    op.create_table(
        "lesson_groups",
        sa.Column("lesson_id", sa.String(ID), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], name="fk_lesson_groups_lesson_id_lessons", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("lesson_id", "group_id", name="pk_lesson_groups"),
    )
    op.create_index("ix_lesson_groups_group_id", "lesson_groups", ["group_id"])
    op.create_table(
        "lesson_teachers",
        sa.Column("lesson_id", sa.String(ID), nullable=False),
        sa.Column("teacher_person_id", sa.String(PERSON_ID), nullable=False),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], name="fk_lesson_teachers_lesson_id_lessons", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("lesson_id", "teacher_person_id", name="pk_lesson_teachers"),
    )
    op.create_index("ix_lesson_teachers_teacher_person_id", "lesson_teachers", ["teacher_person_id"])
    op.create_table(
        "attendance_marks",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("lesson_id", sa.String(ID), nullable=False),
        sa.Column("child_person_id", sa.String(PERSON_ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("late_minutes", sa.Integer()),
        sa.Column("valid_absence", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("registered_by", sa.String(PERSON_ID), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("notice_kind", sa.String(16)),
        sa.Column("notice_late_minutes", sa.Integer()),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], name="fk_attendance_marks_lesson_id_lessons", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_attendance_marks"),
        sa.UniqueConstraint("lesson_id", "child_person_id", name="uq_attendance_marks_lesson_child"),
    )
    op.create_index("ix_attendance_marks_child_person_id", "attendance_marks", ["child_person_id"])
    op.create_table(
        "attendance_mark_versions",
        sa.Column("mark_id", sa.String(ID), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("late_minutes", sa.Integer()),
        sa.Column("valid_absence", sa.Boolean(), nullable=False),
        sa.Column("covered_by_report_id", sa.String(ID)),
        sa.Column("registered_by", sa.String(PERSON_ID), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mark_id"],
            ["attendance_marks.id"],
            name="fk_attendance_mark_versions_mark_id_attendance_marks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mark_id", "version", name="pk_attendance_mark_versions"),
    )
    op.create_table(
        "absence_reports",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("child_person_id", sa.String(PERSON_ID), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("reported_by_person_id", sa.String(PERSON_ID), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("first_local_date", sa.Date(), nullable=False),
        sa.Column("last_local_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(50), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_absence_reports_ends_after_start"),
        sa.PrimaryKeyConstraint("id", name="pk_absence_reports"),
    )
    op.create_index(
        "ix_absence_reports_child_person_id_starts_at", "absence_reports", ["child_person_id", "starts_at"]
    )
    op.create_index(
        "ix_absence_reports_unit_id_first_local_date", "absence_reports", ["unit_id", "first_local_date"]
    )
    op.create_table(
        "preschool_visits",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("child_person_id", sa.String(PERSON_ID), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("checked_in_at", UTCDateTime(), nullable=False),
        sa.Column("checked_in_by", sa.String(PERSON_ID), nullable=False),
        sa.Column("checked_out_at", UTCDateTime()),
        sa.Column("checked_out_by", sa.String(PERSON_ID)),
        sa.PrimaryKeyConstraint("id", name="pk_preschool_visits"),
    )
    op.create_index(
        "ix_preschool_visits_child_person_id_local_date", "preschool_visits", ["child_person_id", "local_date"]
    )
    op.create_index("ix_preschool_visits_unit_id_local_date", "preschool_visits", ["unit_id", "local_date"])
    op.create_table(
        "lesson_plans",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("lesson_id", sa.String(ID)),
        sa.Column("group_id", sa.String(64)),
        sa.Column("week_year", sa.Integer()),
        sa.Column("week", sa.Integer()),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column("homework", sa.Text(), nullable=False),
        sa.Column("author_person_id", sa.String(PERSON_ID), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(lesson_id IS NOT NULL AND group_id IS NULL AND week IS NULL)"
            " OR (lesson_id IS NULL AND group_id IS NOT NULL AND week_year IS NOT NULL AND week IS NOT NULL)",
            name="ck_lesson_plans_lesson_or_week",
        ),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], name="fk_lesson_plans_lesson_id_lessons", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lesson_plans"),
    )
    op.create_index("ix_lesson_plans_lesson_id", "lesson_plans", ["lesson_id"])
    op.create_index("ix_lesson_plans_group_id_week_year_week", "lesson_plans", ["group_id", "week_year", "week"])
    op.create_table(
        "unit_rules",
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("report_days_ahead", sa.Integer(), nullable=False),
        sa.Column("report_days_back", sa.Integer(), nullable=False),
        sa.Column("absence_threshold_percent", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(PERSON_ID), nullable=False),
        sa.PrimaryKeyConstraint("unit_id", name="pk_unit_rules"),
    )
    op.create_table(
        "directory_answers",
        sa.Column("question", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("question", "subject_id", name="pk_directory_answers"),
    )


def downgrade() -> None:
    for table in (
        "directory_answers",
        "unit_rules",
        "lesson_plans",
        "preschool_visits",
        "absence_reports",
        "attendance_mark_versions",
        "attendance_marks",
        "lesson_teachers",
        "lesson_groups",
        "lessons",
        "activities",
    ):
        op.drop_table(table)
