"""Tables of the attendance service."""

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from torget_shared.db import UTCDateTime, new_metadata
from torget_shared.platform_tables import add_platform_tables

metadata = new_metadata()
add_platform_tables(metadata)

ID = 36
PERSON_ID = 64

# SS 12000 activities, as the directory imports them; lessons copy their groups and teachers.
activities = Table(
    "activities",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("activity_type", String(32)),
    Column("subject", String(200)),
    Column("group_ids", JSON, nullable=False),
    Column("teacher_person_ids", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The occurred_at of the directory event this row reflects; an older event is not applied.
    Column("source_occurred_at", UTCDateTime()),
)

# Lessons: SS 12000 calendar events, imported or created by staff.
lessons = Table(
    "lessons",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("activity_id", String(ID)),
    Column("unit_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("subject", String(200)),
    Column("room", String(200)),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("local_date", Date, nullable=False),
    Column("cancelled", Boolean, nullable=False, default=False),
    Column("source", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(PERSON_ID)),
    # For an imported lesson: the occurred_at of the directory event it reflects.
    Column("source_occurred_at", UTCDateTime()),
    CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    Index("ix_lessons_unit_id_local_date", "unit_id", "local_date"),
)

lesson_groups = Table(
    "lesson_groups",
    metadata,
    Column("lesson_id", String(ID), ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", String(64), primary_key=True),
    Index("ix_lesson_groups_group_id", "group_id"),
)

lesson_teachers = Table(
    "lesson_teachers",
    metadata,
    Column("lesson_id", String(ID), ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True),
    Column("teacher_person_id", String(PERSON_ID), primary_key=True),
    Index("ix_lesson_teachers_teacher_person_id", "teacher_person_id"),
)

# The current attendance mark of one pupil in one lesson. Its id is the
# registration id of the absence events. ``notice_kind`` and
# ``notice_late_minutes`` hold the state last published in an event, so a
# repeated or unchanged registration publishes nothing.
attendance_marks = Table(
    "attendance_marks",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("lesson_id", String(ID), ForeignKey("lessons.id", ondelete="CASCADE"), nullable=False),
    Column("child_person_id", String(PERSON_ID), nullable=False),
    Column("status", String(16), nullable=False),
    Column("late_minutes", Integer),
    Column("valid_absence", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),
    Column("registered_by", String(PERSON_ID), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("notice_kind", String(16)),
    Column("notice_late_minutes", Integer),
    UniqueConstraint("lesson_id", "child_person_id", name="uq_attendance_marks_lesson_child"),
    Index("ix_attendance_marks_child_person_id", "child_person_id"),
)

# Every version of every mark, the first registration included.
attendance_mark_versions = Table(
    "attendance_mark_versions",
    metadata,
    Column("mark_id", String(ID), ForeignKey("attendance_marks.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("late_minutes", Integer),
    Column("valid_absence", Boolean, nullable=False),
    Column("covered_by_report_id", String(ID)),
    Column("registered_by", String(PERSON_ID), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
)

absence_reports = Table(
    "absence_reports",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("child_person_id", String(PERSON_ID), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("reported_by_person_id", String(PERSON_ID), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("first_local_date", Date, nullable=False),
    Column("last_local_date", Date, nullable=False),
    Column("reason", String(50), nullable=False),
    Column("comment", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    Index("ix_absence_reports_child_person_id_starts_at", "child_person_id", "starts_at"),
    Index("ix_absence_reports_unit_id_first_local_date", "unit_id", "first_local_date"),
)

# Preschool check-in and check-out of a child; several visits a day are allowed, one open at a time.
preschool_visits = Table(
    "preschool_visits",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("child_person_id", String(PERSON_ID), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("local_date", Date, nullable=False),
    Column("checked_in_at", UTCDateTime(), nullable=False),
    Column("checked_in_by", String(PERSON_ID), nullable=False),
    Column("checked_out_at", UTCDateTime()),
    Column("checked_out_by", String(PERSON_ID)),
    Index("ix_preschool_visits_child_person_id_local_date", "child_person_id", "local_date"),
    Index("ix_preschool_visits_unit_id_local_date", "unit_id", "local_date"),
)

# A lesson plan belongs to one lesson, or to one group's ISO week.
lesson_plans = Table(
    "lesson_plans",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("lesson_id", String(ID), ForeignKey("lessons.id", ondelete="CASCADE")),
    Column("group_id", String(64)),
    Column("week_year", Integer),
    Column("week", Integer),
    Column("title", String(200), nullable=False),
    Column("content", Text, nullable=False),
    Column("goals", Text, nullable=False),
    Column("homework", Text, nullable=False),
    Column("author_person_id", String(PERSON_ID), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    CheckConstraint(
        "(lesson_id IS NOT NULL AND group_id IS NULL AND week IS NULL)"
        " OR (lesson_id IS NULL AND group_id IS NOT NULL AND week_year IS NOT NULL AND week IS NOT NULL)",
        name="lesson_or_week",
    ),
    Index("ix_lesson_plans_lesson_id", "lesson_id"),
    Index("ix_lesson_plans_group_id_week_year_week", "group_id", "week_year", "week"),
)

# Rules each school unit sets for attendance; a unit without a row uses the defaults in rules.py.
unit_rules = Table(
    "unit_rules",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("report_days_ahead", Integer, nullable=False),
    Column("report_days_back", Integer, nullable=False),
    Column("absence_threshold_percent", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(PERSON_ID), nullable=False),
)

# The school directory's last answer per question, used while it does not respond.
directory_answers = Table(
    "directory_answers",
    metadata,
    Column("question", String(32), primary_key=True),
    Column("subject_id", String(64), primary_key=True),
    Column("answer", JSON, nullable=False),
    Column("fetched_at", UTCDateTime(), nullable=False),
)
