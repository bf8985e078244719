"""Events published by the school directory service."""

from marshmallow import Schema, fields  # noqa: F401

from torget_shared.events import registry  # noqa: F401
