"""Tables of the messaging service.

- the read model of guardians, their contact details, their children and
  the units' feature switches, fed by the identity and school-directory
  events, so that notices still go out while those services are down;
- absence notices and which guardians acknowledged them;
- the delivery ledger: one row per (event id, recipient, channel), written
  before the provider is called;
- announcements, conversations and feedback.
"""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from torget_shared.db import UTCDateTime, new_metadata
from torget_shared.platform_tables import add_platform_tables

metadata = new_metadata()
add_platform_tables(metadata)

# Read model: contact details per person, from identity's contact_details_changed.
contact = Table(
    "contact",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("account_id", String(64)),
    Column("email", String(320)),
    Column("mobile", String(20)),
    Column("language", String(16), nullable=False, default="sv"),
    Column("sms_enabled", Boolean, nullable=False, default=True),
    Column("email_enabled", Boolean, nullable=False, default=True),
    Column("protected_identity", Boolean, nullable=False, default=False),
    # occurred_at of the event this row reflects; older events are ignored.
    Column("source_occurred_at", UTCDateTime(), nullable=False),
)

# Read model: names and protection of persons, from the directory's person_changed.
person = Table(
    "person",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("given_name", String(200)),
    Column("family_name", String(200)),
    Column("protected_identity", Boolean, nullable=False, default=False),
    Column("source_occurred_at", UTCDateTime(), nullable=False),
)

# Read model: guardianships, from guardianship_established and guardianship_ended.
guardianship = Table(
    "guardianship",
    metadata,
    Column("child_person_id", String(64), primary_key=True),
    Column("guardian_person_id", String(64), primary_key=True),
    Column("custody", Boolean, nullable=False, default=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("source_occurred_at", UTCDateTime(), nullable=False),
)

# Read model: the per-unit feature switches messaging needs.
unit_feature = Table(
    "unit_feature",
    metadata,
    Column("unit_id", String(64), primary_key=True),
    Column("attendance_sms_notices", Boolean, nullable=False, default=True),
    Column("announcements", Boolean, nullable=False, default=True, server_default=true()),
    Column("conversations", Boolean, nullable=False, default=True, server_default=true()),
    Column("source_occurred_at", UTCDateTime(), nullable=False),
)

# One absence notice per registration from the attendance service.
absence_notice = Table(
    "absence_notice",
    metadata,
    Column("notice_id", String(36), primary_key=True),
    Column("registration_id", String(36), nullable=False, unique=True),
    Column("event_id", String(36)),
    Column("child_person_id", String(64), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("lesson_id", String(64)),
    Column("lesson_name", String(200)),
    Column("local_date", Date),
    Column("local_start_time", String(5)),
    Column("local_end_time", String(5)),
    Column("kind", String(16)),
    Column("late_minutes", Integer),
    # active, or withdrawn once the attendance service withdrew the registration.
    Column("state", String(16), nullable=False),
    Column("withdrawal_event_id", String(36)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("withdrawn_at", UTCDateTime()),
    Index("ix_absence_notice_unit_id_local_date", "unit_id", "local_date"),
    Index("ix_absence_notice_child_person_id", "child_person_id"),
)

# The guardians an absence notice was addressed to, and when each acknowledged it.
notice_guardian = Table(
    "notice_guardian",
    metadata,
    Column("notice_id", String(36), ForeignKey("absence_notice.notice_id"), primary_key=True),
    Column("guardian_person_id", String(64), primary_key=True),
    Column("acknowledged_at", UTCDateTime()),
)

# The delivery ledger. States: pending, sending, sent, unknown, failed,
# cancelled (withdrawn before it was sent) and skipped (no address, the
# guardian turned the channel off, or the unit has SMS notices off).
delivery = Table(
    "delivery",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("notice_id", String(36), ForeignKey("absence_notice.notice_id")),
    Column("corrects_delivery_id", String(36), ForeignKey("delivery.delivery_id")),
    Column("address", String(320)),
    Column("recipient_protected", Boolean, nullable=False, default=False),
    Column("language", String(16), nullable=False),
    Column("subject", Text),
    Column("body", Text),
    Column("html_body", Text),
    Column("sms_encoding", String(8)),
    Column("sms_segments", Integer),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime()),
    Column("attempt_started_at", UTCDateTime()),
    Column("lease_until", UTCDateTime()),
    Column("provider_message_id", String(128)),
    Column("last_error", Text),
    Column("correlation_id", String(128)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    UniqueConstraint("event_id", "recipient", "channel", name="uq_delivery_event_id_recipient_channel"),
    Index("ix_delivery_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_delivery_notice_id", "notice_id"),
)

# Announcements from staff to a school unit, a group, or the guardians of a
# group. The title and body are the Swedish original; translations are kept
# per language in announcement_translation.
announcement = Table(
    "announcement",
    metadata,
    Column("announcement_id", String(36), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    # unit, group or group_guardians
    Column("audience", String(16), nullable=False),
    Column("group_id", String(64)),
    Column("author_person_id", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Index("ix_announcement_unit_id_published_at", "unit_id", "published_at"),
    Index("ix_announcement_group_id", "group_id"),
)

announcement_translation = Table(
    "announcement_translation",
    metadata,
    Column("announcement_id", String(36), ForeignKey("announcement.announcement_id"), primary_key=True),
    Column("language", String(16), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
)

# Read receipts: when each guardian first marked an announcement read.
announcement_read = Table(
    "announcement_read",
    metadata,
    Column("announcement_id", String(36), ForeignKey("announcement.announcement_id"), primary_key=True),
    Column("guardian_person_id", String(64), primary_key=True),
    Column("read_at", UTCDateTime(), nullable=False),
)

# Conversations: threads about one child between guardians and staff of a
# unit where the child is placed. Only participants read and write them.
conversation = Table(
    "conversation",
    metadata,
    Column("conversation_id", String(36), primary_key=True),
    Column("child_person_id", String(64), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("started_by_person_id", String(64), nullable=False),
    # The number of messages so far; a new message takes the next number.
    Column("message_count", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_message_at", UTCDateTime(), nullable=False),
    Index("ix_conversation_child_person_id", "child_person_id"),
)

conversation_participant = Table(
    "conversation_participant",
    metadata,
    Column("conversation_id", String(36), ForeignKey("conversation.conversation_id"), primary_key=True),
    Column("person_id", String(64), primary_key=True),
    # guardian or staff
    Column("role", String(16), nullable=False),
    # The number of the last message the participant has read; 0 for none.
    Column("last_read_seq", Integer, nullable=False),
    Column("added_at", UTCDateTime(), nullable=False),
    Index("ix_conversation_participant_person_id", "person_id"),
)

conversation_message = Table(
    "conversation_message",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("conversation_id", String(36), ForeignKey("conversation.conversation_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("author_person_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    UniqueConstraint("conversation_id", "seq", name="uq_conversation_message_conversation_id_seq"),
)

# Feedback (suggestions, complaints) to the administration of a school unit.
feedback = Table(
    "feedback",
    metadata,
    Column("feedback_id", String(36), primary_key=True),
    Column("unit_id", String(64), nullable=False),
    Column("author_person_id", String(64), nullable=False),
    # guardian or staff: the role the author wrote in.
    Column("author_role", String(16), nullable=False),
    # Anonymous feedback shows the administration no author.
    Column("anonymous", Boolean, nullable=False),
    # suggestion, complaint or other
    Column("kind", String(16), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    # received, or answered once the administration answered
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("answered_at", UTCDateTime()),
    Index("ix_feedback_unit_id_created_at", "unit_id", "created_at"),
    Index("ix_feedback_author_person_id", "author_person_id"),
)

feedback_answer = Table(
    "feedback_answer",
    metadata,
    Column("answer_id", String(36), primary_key=True),
    Column("feedback_id", String(36), ForeignKey("feedback.feedback_id"), nullable=False),
    Column("author_person_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("answered_at", UTCDateTime(), nullable=False),
    Index("ix_feedback_answer_feedback_id", "feedback_id"),
)
