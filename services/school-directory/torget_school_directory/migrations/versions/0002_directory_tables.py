"""Create the directory tables: organisations, persons, guardianships, placements,
groups, memberships, duties, feature switches and the import bookkeeping.

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

ID = sa.String(36)


def _source_columns() -> list:
    return [
        sa.Column("source_modified", UTCDateTime()),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("removed_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("display_name", sa.String(300), nullable=False),
        sa.Column("organisation_type", sa.String(40), nullable=False),
        sa.Column("organisation_code", sa.String(100)),
        sa.Column("organisation_number", sa.String(20)),
        sa.Column("school_unit_code", sa.String(20)),
        sa.Column("school_types", sa.JSON(), nullable=False),
        sa.Column("parent_id", ID),
        sa.Column("municipality_code", sa.String(10)),
        sa.Column("start_date", sa.Date()),
        sa.Column("end_date", sa.Date()),
        *_source_columns(),
    )
    op.create_index("ix_organisations_school_unit_code", "organisations", ["school_unit_code"])

    op.create_table(
        "persons",
        sa.Column("id", ID, primary_key=True),
        sa.Column("given_name", sa.String(200), nullable=False),
        sa.Column("middle_name", sa.String(200)),
        sa.Column("family_name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date()),
        sa.Column("pin_sealed", sa.LargeBinary()),
        sa.Column("pin_hash", sa.String(64)),
        sa.Column("security_marking", sa.String(30), nullable=False),
        sa.Column("person_status", sa.String(20), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("phone_numbers", sa.JSON(), nullable=False),
        *_source_columns(),
    )
    op.create_index("ix_persons_pin_hash", "persons", ["pin_hash"], unique=True)

    op.create_table(
        "guardianships",
        sa.Column("child_id", ID, sa.ForeignKey("persons.id"), primary_key=True),
        sa.Column("guardian_id", ID, primary_key=True),
        sa.Column("relation_type", sa.String(30), nullable=False),
        sa.Column("established_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
    )
    op.create_index("ix_guardianships_guardian_id", "guardianships", ["guardian_id"])

    op.create_table(
        "placements",
        sa.Column("id", ID, primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("child_id", ID, sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("school_unit_id", ID, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("group_id", ID),
        sa.Column("school_type", sa.String(10), nullable=False),
        sa.Column("school_year", sa.Integer()),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        sa.Column("reason", sa.String(30)),
        *_source_columns(),
    )
    op.create_index("ix_placements_child_id", "placements", ["child_id"])
    op.create_index("ix_placements_school_unit_id", "placements", ["school_unit_id"])

    op.create_table(
        "groups",
        sa.Column("id", ID, primary_key=True),
        sa.Column("display_name", sa.String(300), nullable=False),
        sa.Column("group_type", sa.String(20), nullable=False),
        sa.Column("school_type", sa.String(10)),
        sa.Column("organisation_id", ID, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        *_source_columns(),
    )
    op.create_index("ix_groups_organisation_id", "groups", ["organisation_id"])

    op.create_table(
        "group_memberships",
        sa.Column("group_id", ID, sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("person_id", ID, sa.ForeignKey("persons.id"), primary_key=True),
        sa.Column("start_date", sa.Date()),
        sa.Column("end_date", sa.Date()),
    )
    op.create_index("ix_group_memberships_person_id", "group_memberships", ["person_id"])

    op.create_table(
        "duties",
        sa.Column("id", ID, primary_key=True),
        sa.Column("person_id", ID, sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("unit_id", ID, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("duty_role", sa.String(40), nullable=False),
        sa.Column("signature", sa.String(20)),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        *_source_columns(),
    )
    op.create_index("ix_duties_person_id", "duties", ["person_id"])
    op.create_index("ix_duties_unit_id", "duties", ["unit_id"])

    op.create_table(
        "unit_features",
        sa.Column("unit_id", ID, sa.ForeignKey("organisations.id"), primary_key=True),
        sa.Column("feature", sa.String(40), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_by", ID),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "forwarded_records",
        sa.Column("entity", sa.String(20), primary_key=True),
        sa.Column("id", ID, primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("removed_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(300), primary_key=True),
        sa.Column("entity", sa.String(30), primary_key=True),
        sa.Column("modified_after", sa.String(40)),
        sa.Column("pending_modified_after", sa.String(40)),
        sa.Column("resume_page_token", sa.Text()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("report", sa.JSON()),
    )


def downgrade() -> None:
    for table in (
        "import_runs", "sync_state", "forwarded_records", "unit_features", "duties", "group_memberships",
        "groups", "placements", "guardianships", "persons", "organisations",
    ):  # fmt: skip
        op.drop_table(table)
