"""Tables of the school directory service.

Rows imported from SS 12000 keep the source's id (a UUID) as primary key,
``content_hash`` (SHA-256 of the normalised record, to see what an import
changes) and ``removed_at`` (set when the source reports the record deleted).
Dates are the school's calendar dates; timestamps are UTC.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from torget_shared.db import UTCDateTime, new_metadata
from torget_shared.platform_tables import add_platform_tables

metadata = new_metadata()
add_platform_tables(metadata)

ID = String(36)


def _source_columns() -> list[Column]:
    return [
        Column("source_modified", UTCDateTime()),
        Column("content_hash", String(64), nullable=False),
        Column("removed_at", UTCDateTime()),
        Column("updated_at", UTCDateTime(), nullable=False),
    ]


organisations = Table(
    "organisations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("display_name", String(300), nullable=False),
    Column("organisation_type", String(40), nullable=False),
    Column("organisation_code", String(100)),
    Column("organisation_number", String(20)),
    Column("school_unit_code", String(20)),
    Column("school_types", JSON, nullable=False),
    Column("parent_id", ID),
    Column("municipality_code", String(10)),
    Column("start_date", Date),
    Column("end_date", Date),
    *_source_columns(),
    Index("ix_organisations_school_unit_code", "school_unit_code"),
)

persons = Table(
    "persons",
    metadata,
    Column("id", ID, primary_key=True),
    Column("given_name", String(200), nullable=False),
    Column("middle_name", String(200)),
    Column("family_name", String(200), nullable=False),
    Column("birth_date", Date),
    Column("pin_sealed", LargeBinary),
    Column("pin_hash", String(64)),
    Column("security_marking", String(30), nullable=False),
    Column("person_status", String(20), nullable=False),
    Column("emails", JSON, nullable=False),
    Column("phone_numbers", JSON, nullable=False),
    *_source_columns(),
    Index("ix_persons_pin_hash", "pin_hash", unique=True),
)

# SS 12000 Person.responsibles: the guardian (or other responsible) of a child.
# The guardian is not a foreign key because the source may list the guardian's
# own person record after the child's.
guardianships = Table(
    "guardianships",
    metadata,
    Column("child_id", ID, ForeignKey("persons.id"), primary_key=True),
    Column("guardian_id", ID, primary_key=True),
    Column("relation_type", String(30), nullable=False),
    Column("established_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Index("ix_guardianships_guardian_id", "guardian_id"),
)

# SS 12000 placements (preschool, leisure centre) and Person.enrolments (the
# other school forms) in one history per child. An enrolment has no id of its
# own in SS 12000; its id is derived from the person, unit, school form and
# start date.
placements = Table(
    "placements",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(12), nullable=False),
    Column("child_id", ID, ForeignKey("persons.id"), nullable=False),
    Column("school_unit_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("group_id", ID),
    Column("school_type", String(10), nullable=False),
    Column("school_year", Integer),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    Column("reason", String(30)),
    *_source_columns(),
    Index("ix_placements_child_id", "child_id"),
    Index("ix_placements_school_unit_id", "school_unit_id"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", ID, primary_key=True),
    Column("display_name", String(300), nullable=False),
    Column("group_type", String(20), nullable=False),
    Column("school_type", String(10)),
    Column("organisation_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    *_source_columns(),
    Index("ix_groups_organisation_id", "organisation_id"),
)

group_memberships = Table(
    "group_memberships",
    metadata,
    Column("group_id", ID, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", ID, ForeignKey("persons.id"), primary_key=True),
    Column("start_date", Date),
    Column("end_date", Date),
    Index("ix_group_memberships_person_id", "person_id"),
)

duties = Table(
    "duties",
    metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("persons.id"), nullable=False),
    Column("unit_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("duty_role", String(40), nullable=False),
    Column("signature", String(20)),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    *_source_columns(),
    Index("ix_duties_person_id", "person_id"),
    Index("ix_duties_unit_id", "unit_id"),
)

# A feature switch set by a principal or an administrator; a unit without a
# row for a feature has the default of its school forms.
unit_features = Table(
    "unit_features",
    metadata,
    Column("unit_id", ID, ForeignKey("organisations.id"), primary_key=True),
    Column("feature", String(40), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("changed_by", ID),
    Column("changed_at", UTCDateTime(), nullable=False),
)

# Activities and calendar events are not kept here: they are handed to the
# attendance service as events. This table remembers what was handed over, so
# an unchanged record is not sent again.
forwarded_records = Table(
    "forwarded_records",
    metadata,
    Column("entity", String(20), primary_key=True),
    Column("id", ID, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("removed_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Per source and entity: the meta.modified watermark of the last complete
# import and, while an import is interrupted, the page token to resume from.
sync_state = Table(
    "sync_state",
    metadata,
    Column("source", String(300), primary_key=True),
    Column("entity", String(30), primary_key=True),
    Column("modified_after", String(40)),
    Column("pending_modified_after", String(40)),
    Column("resume_page_token", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("report", JSON),
)
