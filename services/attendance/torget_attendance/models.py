"""Tables of the attendance service."""

from torget_shared.db import new_metadata
from torget_shared.platform_tables import add_platform_tables

metadata = new_metadata()
add_platform_tables(metadata)
