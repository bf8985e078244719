"""Alembic for the services: one migration history per service package.

Each service keeps its history in ``torget_<service>/migrations``. The
``torget-migrate`` command upgrades one or all services to their latest
revision against the database their configuration names.
"""

import argparse
import logging
import sys

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config

from torget_shared.config import SERVICE_NAMES, database_url
from torget_shared.db import UTCDateTime, normalize_url

log = logging.getLogger(__name__)


def alembic_config(service_name: str, url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", f"torget_{service_name}:migrations")
    # Alembic reads "%" as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", normalize_url(url or database_url(service_name)).replace("%", "%%"))
    return config


def upgrade(service_name: str, url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(service_name, url), revision)


def run_env(target_metadata) -> None:
    """Body of a service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def create_platform_tables(op) -> None:
    """Create the outbox and inbox tables in a service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("event_id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_state_available_at", "outbox", ["state", "available_at"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )


def drop_platform_tables(op) -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_state_available_at", table_name="outbox")
    op.drop_table("outbox")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Upgrade service databases to their latest migration.")
    parser.add_argument("services", nargs="*", help=f"services to migrate, of {', '.join(SERVICE_NAMES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(SERVICE_NAMES))
    if unknown:
        parser.error(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICE_NAMES)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    for service_name in args.services or SERVICE_NAMES:
        upgrade(service_name)
        print(f"{service_name}: migrated to head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
