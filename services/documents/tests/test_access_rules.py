"""Unit tests of the access rules, the keyring and the image checks: no broker, no database."""

import pytest

from torget_documents.access import READ, WRITE, Actor, ChildContext, Duty, child_scope, decide, group_scope
from torget_documents.crypto import Keyring, KeyringConfigError, new_key_line
from torget_documents.errors import AttachmentTooLarge, AttachmentTypeNotAllowed, DecryptionFailed, EncryptionKeyUnavailable
from torget_documents.filestore import check_image
from torget_shared.caller import Caller

FEATURES = {"unit-a": {"logbook": True, "development_talks": True, "iup": True}, "unit-b": {"iup": False}}
CHILD = ChildContext("child", frozenset({"unit-a"}), frozenset({"g1"}), frozenset({"guardian"}))


def actor(person_id: str, assurance: str = "bankid", *duties: Duty) -> Actor:
    return Actor(Caller(kind="account", person_id=person_id, assurance=assurance), duties=duties)


@pytest.mark.parametrize(
    ("who", "action", "allowed", "reason"),
    [
        (actor("t", "bankid", Duty("unit-a", "Förskollärare")), WRITE, True, None),
        (actor("t", "password", Duty("unit-a", "Förskollärare")), READ, False, "bankid_required"),
        (actor("p", "bankid", Duty("unit-a", "Rektor")), READ, True, None),
        (actor("p", "bankid", Duty("unit-a", "Rektor")), WRITE, False, "write_not_allowed"),
        (actor("n", "bankid", Duty("unit-a", "Skolsköterska")), READ, False, "not_found"),
        (actor("o", "bankid", Duty("unit-b", "Lärare")), READ, False, "not_found"),
        (actor("g", "bankid", Duty("unit-a", "Lärare", frozenset({"g2"}))), READ, False, "not_found"),
        (actor("g", "bankid", Duty("unit-a", "Lärare", frozenset({"g1"}))), READ, True, None),
        (actor("guardian"), READ, True, None),
        (actor("guardian", "password"), READ, False, "bankid_required"),
        (actor("guardian"), WRITE, False, "not_found"),
        (actor("stranger"), READ, False, "not_found"),
        (actor("child"), READ, False, "not_found"),
    ],
)
def test_decide_iup_for_child(who, action, allowed, reason):
    decision = decide(who, "iup", child_scope(CHILD), FEATURES, action)

    assert decision.allowed is allowed
    assert decision.reason == reason


def test_decide_without_caller_or_child():
    anonymous = Actor(Caller())
    service = Actor(Caller.for_service("messaging"))

    assert decide(anonymous, "iup", child_scope(CHILD), FEATURES, READ).reason == "not_found"
    assert decide(service, "iup", child_scope(CHILD), FEATURES, READ).reason == "not_found"
    assert decide(actor("guardian"), "iup", None, FEATURES, READ).reason == "not_found"


def test_decide_feature_off_hides_kind():
    features = {"unit-a": {"iup": False, "logbook": True}}
    teacher = actor("t", "bankid", Duty("unit-a", "Lärare"))

    assert decide(actor("guardian"), "iup", child_scope(CHILD), features, READ).reason == "not_found"
    assert decide(teacher, "iup", child_scope(CHILD), features, READ).reason == "not_found"
    assert decide(teacher, "iup", child_scope(CHILD), features, WRITE).reason == "feature_disabled"


def test_decide_group_entry_through_child():
    in_group = group_scope("unit-a", "g1", CHILD)
    other_group = group_scope("unit-a", "g2", CHILD)
    other_unit = group_scope("unit-b", "g1", CHILD)

    assert decide(actor("guardian"), "logbook", in_group, FEATURES, READ).allowed
    assert decide(actor("guardian"), "logbook", other_group, FEATURES, READ).reason == "not_found"
    assert decide(actor("guardian"), "logbook", other_unit, FEATURES, READ).reason == "not_found"


def test_pupil_reads_when_unit_allows():
    features = {"unit-a": {"iup": True, "pupil_documents": True}}

    assert decide(actor("child"), "iup", child_scope(CHILD), features, READ).allowed
    assert decide(actor("child", "password"), "iup", child_scope(CHILD), features, READ).reason == "bankid_required"


def test_keyring_binds_ciphertext_to_row():
    keyring = Keyring.from_config(new_key_line("k1"), None, "adm")
    key_id, sealed = keyring.encrypt(b"hemligt", "document_version|1")

    assert keyring.decrypt(key_id, sealed, "document_version|1") == b"hemligt"
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(key_id, sealed, "document_version|2")
    other_administration = Keyring("other", "k1", keyring.keys)
    with pytest.raises(DecryptionFailed):
        other_administration.decrypt(key_id, sealed, "document_version|1")
    with pytest.raises(EncryptionKeyUnavailable):
        keyring.decrypt("k0", sealed, "document_version|1")


@pytest.mark.parametrize(
    ("keys", "active", "message"),
    [
        ("k1=c2hvcnQ=", None, "has 5 bytes"),
        ("k1", None, "is invalid"),
        ("k/1=" + "A" * 43, None, "is invalid"),
        (f"{new_key_line('k1')},{new_key_line('k2')}", None, "must name one"),
        (new_key_line("k1"), "k2", "is not in DOCUMENTS_KEYS"),
        (f"{new_key_line('k1')},{new_key_line('k1')}", "k1", "twice"),
    ],
)
def test_keyring_config_errors(keys, active, message):
    with pytest.raises(KeyringConfigError, match=message):
        Keyring.from_config(keys, active, "adm")


def test_keyring_missing_is_none():
    assert Keyring.from_config("", None, "adm") is None


def test_image_checks():
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + b"\0" * 20
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 20

    assert check_image(png, "image/png", 1000) == "image/png"
    assert check_image(jpeg, None, 1000) == "image/jpeg"
    with pytest.raises(AttachmentTooLarge):
        check_image(png, "image/png", 10)
    with pytest.raises(AttachmentTypeNotAllowed):
        check_image(b"%PDF-1.7", None, 1000)
    with pytest.raises(AttachmentTypeNotAllowed):
        check_image(jpeg, "image/png", 1000)
