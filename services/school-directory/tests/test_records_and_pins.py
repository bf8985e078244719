"""Checks that need no database: personal identity numbers, SS 12000 records, code lists, feature defaults."""

import os

import pytest
import yaml

from torget_school_directory import records, ss12000
from torget_school_directory.features import default_features
from torget_school_directory.generator import generate, luhn_check_digit
from torget_school_directory.pin import InvalidPersonalIdentityNumber, PinProtector, parse_pin

# The OpenAPI file of SS 12000 version 2.1 (MIT licence), which this repository does not carry.
OPENAPI = os.environ.get("SS12000_OPENAPI_FILE", "")


def test_parse_pin_accepts_hyphen_and_returns_birth_date():
    pin = parse_pin("19900101-0017")
    assert pin.value == "199001010017"
    assert pin.birth_date.isoformat() == "1990-01-01"
    assert pin.is_coordination_number is False


def test_parse_pin_accepts_coordination_number():
    nine = "900161001"
    pin = parse_pin(f"19{nine}{luhn_check_digit(nine)}")
    assert pin.is_coordination_number is True
    assert pin.birth_date.isoformat() == "1990-01-01"


@pytest.mark.parametrize("raw", ["199001010018", "9001010017", "19901301" + "0017", "abc", ""])
def test_parse_pin_rejects_invalid(raw):
    with pytest.raises(InvalidPersonalIdentityNumber) as error:
        parse_pin(raw)
    assert raw not in str(error.value) or raw == ""


def test_sealed_pin_opens_only_for_its_person():
    protector = PinProtector(os.urandom(32), os.urandom(32))
    sealed = protector.encrypt("199001010017", "person-1")
    assert protector.decrypt(sealed, "person-1") == "199001010017"
    with pytest.raises(Exception):
        protector.decrypt(sealed, "person-2")


def test_lookup_hash_depends_on_key():
    first = PinProtector(b"k" * 32, b"a" * 32).lookup_hash("199001010017")
    second = PinProtector(b"k" * 32, b"b" * 32).lookup_hash("199001010017")
    assert first != second


def test_generated_pins_are_valid_and_fit_birth_dates():
    data = generate(7, "test")
    for person in data.entities["persons"]:
        pin = parse_pin(person["civicNo"]["value"])
        assert pin.birth_date.isoformat() == person["birthDate"]


def test_generator_is_deterministic():
    assert generate(7, "test").entities == generate(7, "test").entities


def test_generated_units_cover_every_school_type():
    data = generate(7, "test")
    school_types = {t for unit in data.entities["organisations"] for t in unit.get("schoolTypes", [])}
    assert school_types == set(ss12000.SCHOOL_TYPES)


def test_read_group_rejects_end_before_start():
    group = {
        "id": "6d1b2a4e-0000-4000-8000-000000000001",
        "meta": {"created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"},
        "displayName": "1A",
        "groupType": "Klass",
        "organisation": {"id": "6d1b2a4e-0000-4000-8000-000000000002"},
        "startDate": "2026-08-17",
        "endDate": "2026-06-01",
    }
    with pytest.raises(records.RecordRejected, match="endDate 2026-06-01 is before startDate 2026-08-17"):
        records.read_group(group)


def test_read_placement_rejects_school_type_of_enrolment():
    placement = {
        "id": "6d1b2a4e-0000-4000-8000-000000000003",
        "meta": {"created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"},
        "child": {"id": "6d1b2a4e-0000-4000-8000-000000000004"},
        "placedAt": {"id": "6d1b2a4e-0000-4000-8000-000000000005"},
        "schoolType": "GR",
        "startDate": "2026-08-17",
    }
    with pytest.raises(records.RecordRejected, match="unknown schoolType value 'GR'"):
        records.read_placement(placement)


def test_feature_defaults_by_school_form():
    preschool = default_features(["FS"])
    school = default_features(["FKLASS", "GR", "FTH"])
    adult = default_features(["VUX"])
    assert preschool["logbook"] is True
    assert preschool["iup"] is False
    assert preschool["schedule"] is False
    assert school["iup"] is True
    assert school["attendance_sms_notices"] is True
    assert school["logbook"] is True
    assert adult["attendance_sms_notices"] is False
    assert adult["schedule"] is True


@pytest.mark.skipif(not os.path.exists(OPENAPI), reason="set SS12000_OPENAPI_FILE to the SS 12000 v2.1 OpenAPI file to compare the code lists")
def test_code_lists_match_the_standard():
    with open(OPENAPI, encoding="utf-8") as openapi_file:
        schemas = yaml.safe_load(openapi_file)["components"]["schemas"]
    assert tuple(schemas["SchoolTypesEnum"]["enum"]) == ss12000.SCHOOL_TYPES
    assert tuple(schemas["OrganisationTypeEnum"]["enum"]) == ss12000.ORGANISATION_TYPES
    assert tuple(schemas["GroupTypesEnum"]["enum"]) == ss12000.GROUP_TYPES
    assert tuple(schemas["DutyRole"]["enum"]) == ss12000.DUTY_ROLES
    assert tuple(schemas["RelationTypesEnum"]["enum"]) == ss12000.RELATION_TYPES
    assert tuple(schemas["Person"]["properties"]["securityMarking"]["enum"]) == ss12000.SECURITY_MARKINGS
    assert tuple(schemas["Placement"]["properties"]["schoolType"]["enum"]) == ss12000.PLACEMENT_SCHOOL_TYPES
    assert tuple(schemas["Activity"]["properties"]["activityType"]["enum"]) == ss12000.ACTIVITY_TYPES
