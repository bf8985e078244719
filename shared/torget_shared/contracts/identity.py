"""Events published by the identity service."""

from marshmallow import Schema, fields  # noqa: F401

from torget_shared.events import registry  # noqa: F401
