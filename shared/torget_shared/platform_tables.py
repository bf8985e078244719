"""Adds the outbox and inbox tables to a service's metadata."""

from sqlalchemy import MetaData

from torget_shared.inbox import define_inbox_table
from torget_shared.outbox import define_outbox_table


def add_platform_tables(metadata: MetaData) -> None:
    define_outbox_table(metadata)
    define_inbox_table(metadata)
