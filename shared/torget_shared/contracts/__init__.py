"""Event contracts: one marshmallow payload schema per event type and version.

Importing this package registers every schema in ``torget_shared.events.registry``.
Each module holds the events one service publishes.
"""

from torget_shared.contracts import attendance, documents, identity, messaging, school_directory  # noqa: F401
