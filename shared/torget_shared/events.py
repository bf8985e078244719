"""The event envelope and the registry of versioned event schemas.

Every event on the bus is an envelope: ``event_id``, ``event_type``,
``event_version``, ``occurred_at`` (UTC, ISO 8601), ``producer``,
``correlation_id`` and ``payload``. One marshmallow schema per event type and
version describes the payload. Producer and consumers load the same schema
from here, so a payload that breaks the contract fails where it is written.
"""

import uuid
from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate

from torget_shared.context import get_correlation_id, new_correlation_id


class UnknownEventType(LookupError):
    """No schema is registered for an event type and version."""


class EnvelopeSchema(Schema):
    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    event_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, default_timezone=timezone.utc)
    producer = fields.String(required=True, validate=validate.Length(min=1, max=100))
    correlation_id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    payload = fields.Dict(required=True)


class EventRegistry:
    """Maps ``(event_type, version)`` to the payload schema."""

    def __init__(self):
        self._schemas: dict[tuple[str, int], type[Schema]] = {}
        # One instance per schema: building a marshmallow schema costs far
        # more than a load, and an instance keeps no state between loads.
        self._instances: dict[tuple[str, int], Schema] = {}

    def register(self, event_type: str, version: int = 1):
        """Class decorator that registers a payload schema."""

        def decorate(schema_cls: type[Schema]) -> type[Schema]:
            key = (event_type, version)
            if key in self._schemas and self._schemas[key] is not schema_cls:
                raise ValueError(f"event {event_type} v{version} is already registered")
            self._schemas[key] = schema_cls
            return schema_cls

        return decorate

    def schema(self, event_type: str, version: int) -> Schema:
        key = (event_type, version)
        instance = self._instances.get(key)
        if instance is None:
            try:
                instance = self._instances[key] = self._schemas[key]()
            except KeyError:
                raise UnknownEventType(f"no schema for event {event_type} v{version}") from None
        return instance

    def latest_version(self, event_type: str) -> int:
        versions = [version for (name, version) in self._schemas if name == event_type]
        if not versions:
            raise UnknownEventType(f"no schema for event {event_type}")
        return max(versions)

    def known(self) -> list[tuple[str, int]]:
        return sorted(self._schemas)


registry = EventRegistry()


def build_envelope(producer: str, event_type: str, payload: dict, version: int | None = None) -> dict:
    """Validate ``payload`` against its schema and wrap it in an envelope.

    Returns the envelope as JSON-ready data. Raises ``ValidationError`` when
    the payload breaks its schema and ``UnknownEventType`` for an unregistered
    event.
    """
    version = registry.latest_version(event_type) if version is None else version
    schema = registry.schema(event_type, version)

    # dump(load(x)) both checks the payload and normalises it to JSON types.
    checked_payload = schema.dump(schema.load(payload))

    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "event_version": version,
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "producer": producer,
        "correlation_id": get_correlation_id() or new_correlation_id(),
        "payload": checked_payload,
    }


def load_envelope(body: dict) -> dict:
    """Validate a received envelope and its payload; return the loaded envelope.

    The payload is loaded with its registered schema, so dates and UUIDs
    arrive as Python objects.
    """
    envelope = EnvelopeSchema().load(body)
    schema = registry.schema(envelope["event_type"], envelope["event_version"])
    envelope["payload"] = schema.load(envelope["payload"])
    return envelope


__all__ = [
    "EnvelopeSchema",
    "EventRegistry",
    "UnknownEventType",
    "ValidationError",
    "build_envelope",
    "load_envelope",
    "registry",
]
