"""The envelope and the registry of versioned payload schemas."""

import uuid

import pytest
from marshmallow import Schema, ValidationError, fields

from torget_shared.context import reset_correlation_id, set_correlation_id
from torget_shared.events import EventRegistry, UnknownEventType, build_envelope, load_envelope, registry
from torget_shared.testing.probe import EVENT


def test_envelope_carries_every_field():
    token = set_correlation_id("corr-1")
    try:
        envelope = build_envelope("attendance", EVENT, {"note_id": 7, "text": "x"})
    finally:
        reset_correlation_id(token)

    assert uuid.UUID(envelope["event_id"])
    assert envelope["event_type"] == EVENT
    assert envelope["event_version"] == 1
    assert envelope["occurred_at"].endswith("+00:00")
    assert envelope["producer"] == "attendance"
    assert envelope["correlation_id"] == "corr-1"
    assert envelope["payload"] == {"note_id": 7, "text": "x"}


def test_envelope_without_context_gets_new_correlation_id():
    envelope = build_envelope("attendance", EVENT, {"note_id": 7, "text": "x"})

    assert len(envelope["correlation_id"]) == 32


def test_payload_breaking_schema_is_rejected():
    with pytest.raises(ValidationError) as error:
        build_envelope("attendance", EVENT, {"text": "no note id"})

    assert "note_id" in error.value.messages


def test_unknown_payload_field_is_rejected():
    with pytest.raises(ValidationError) as error:
        build_envelope("attendance", EVENT, {"note_id": 1, "text": "x", "pnr": "191212121212"})

    assert "pnr" in error.value.messages


def test_unknown_event_type_is_rejected():
    with pytest.raises(UnknownEventType):
        build_envelope("attendance", "no_such_event", {})


def test_versions_are_kept_apart():
    local = EventRegistry()

    @local.register("lesson_moved", 1)
    class V1(Schema):
        lesson_id = fields.Integer(required=True)

    @local.register("lesson_moved", 2)
    class V2(Schema):
        lesson_id = fields.UUID(required=True)

    assert local.latest_version("lesson_moved") == 2
    assert isinstance(local.schema("lesson_moved", 1), V1)
    assert isinstance(local.schema("lesson_moved", 2), V2)
    assert local.known() == [("lesson_moved", 1), ("lesson_moved", 2)]


def test_registering_another_schema_twice_fails():
    local = EventRegistry()
    local.register("x", 1)(type("A", (Schema,), {}))

    with pytest.raises(ValueError):
        local.register("x", 1)(type("B", (Schema,), {}))


def test_load_envelope_round_trip():
    envelope = build_envelope("attendance", EVENT, {"note_id": 3, "text": "y"})

    loaded = load_envelope(envelope)

    assert loaded["event_id"] == uuid.UUID(envelope["event_id"])
    assert loaded["payload"] == {"note_id": 3, "text": "y"}


def test_load_envelope_rejects_missing_fields():
    envelope = build_envelope("attendance", EVENT, {"note_id": 3, "text": "y"})
    del envelope["producer"]

    with pytest.raises(ValidationError) as error:
        load_envelope(envelope)

    assert "producer" in error.value.messages


def test_shared_registry_knows_probe_event():
    assert (EVENT, 1) in registry.known()
