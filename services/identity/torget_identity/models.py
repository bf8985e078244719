"""Tables of the identity service."""

from sqlalchemy import JSON, Boolean, Column, Date, ForeignKey, Index, Integer, String, Table, Text

from torget_shared.db import UTCDateTime, new_metadata
from torget_shared.platform_tables import add_platform_tables

metadata = new_metadata()
add_platform_tables(metadata)

# Account states.
ACTIVE = "active"
PENDING_ACTIVATION = "pending_activation"
DISABLED = "disabled"

# How an account logs in.
LOGIN_BANKID = "bankid"
LOGIN_PASSWORD = "password"

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    # The school directory's id of the person, when the directory knows them.
    Column("person_id", String(64), index=True),
    # HMAC of the personal identity number (lookup) and its AES-GCM ciphertext.
    Column("personal_number_hash", String(64), unique=True),
    Column("personal_number_encrypted", Text),
    Column("given_name", String(200), nullable=False),
    Column("family_name", String(200), nullable=False),
    Column("login_method", String(16), nullable=False),
    Column("username", String(64), unique=True),
    Column("password_hash", Text),
    Column("failed_password_attempts", Integer, nullable=False, default=0),
    Column("password_locked_until", UTCDateTime()),
    Column("status", String(24), nullable=False),
    Column("roles", JSON, nullable=False),
    # Duties by school unit, from the directory at the last BankID login: [{"unit_id", "duty_role"}].
    Column("duties", JSON, nullable=False),
    Column("protected_identity", Boolean, nullable=False, default=False),
    # Only a verified address is stored here; one waiting for verification is in email_verifications.
    Column("email", String(320)),
    Column("mobile", String(20)),
    Column("language", String(8), nullable=False),
    Column("notify_email", Boolean, nullable=False),
    Column("notify_sms", Boolean, nullable=False),
    Column("created_by_account_id", String(36)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime()),
)

activation_codes = Table(
    "activation_codes",
    metadata,
    Column("account_id", String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_at", UTCDateTime()),
    Column("used_at", UTCDateTime()),
    Column("child_person_id", String(64), nullable=False),
    Column("unit_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

email_verifications = Table(
    "email_verifications",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("email", String(320), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
)

bankid_orders = Table(
    "bankid_orders",
    metadata,
    Column("order_ref", String(64), primary_key=True),
    Column("qr_start_token", String(64), nullable=False),
    Column("qr_start_secret_encrypted", Text, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    # pending, complete, failed or cancelled, as last collected.
    Column("status", String(16), nullable=False),
    Column("hint_code", String(64)),
    Column("last_collected_at", UTCDateTime()),
    Column("personal_number_encrypted", Text),
    Column("given_name", String(200)),
    Column("surname", String(200)),
    Column("completed_at", UTCDateTime()),
    # Set when a session or account was made from the completed order, so it is used once.
    Column("consumed_at", UTCDateTime()),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("assurance", String(16), nullable=False),
    Column("authenticated_at", UTCDateTime(), nullable=False),
    Column("last_refreshed_at", UTCDateTime(), nullable=False),
    Column("idle_expires_at", UTCDateTime(), nullable=False),
    Column("absolute_expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("revoke_reason", String(32)),
    Index("ix_sessions_revoked_at", "revoked_at"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # Set when the token was exchanged for its successor; a second use revokes the session.
    Column("used_at", UTCDateTime()),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_key_encrypted", Text, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Set when a newer key took over signing; the public key stays published
    # until the last access token it signed has expired.
    Column("retired_at", UTCDateTime()),
)

access_cutoffs = Table(
    "access_cutoffs",
    metadata,
    Column("role", String(32), primary_key=True),
    # From this date (Europe/Stockholm) the role can no longer log in or refresh.
    Column("cutoff_date", Date, nullable=False),
    Column("set_by_account_id", String(36)),
    Column("set_at", UTCDateTime(), nullable=False),
)
