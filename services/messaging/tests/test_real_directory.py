"""Messaging with the real school directory service: its import feeds the read model, its duties gate staff.

Each test starts the real directory on an empty database next to messaging
and imports a small municipality of the directory's generator by RPC. The
person and guardianship events that build messaging's read model are then
those that the directory publishes during a real import. The import uses the
minimum number of units that the generator's scenarios need (570 records),
so that the test does not wait for the about 7,500 events of the
generator's "test" size.
"""

import uuid

import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy

from torget_messaging.testing import publish, sms_recipients, smtp_recipients
from torget_school_directory.generator import Size, generate, write_dump
from torget_school_directory.service import SchoolDirectoryService
from torget_shared.caller import ACCOUNT, Caller
from torget_shared.db import make_engine
from torget_shared.testing.probe import wait_for

SEED = 12000
SMALL = Size(
    preschools=2,
    compulsory_schools=1,
    upper_secondary_schools=1,
    adult_centres=1,
    children_per_department=3,
    pupils_per_class=3,
    departments_per_preschool=1,
    classes_per_year=1,
    calendar_events_per_activity=2,
)
# Keys of the directory's personal identity number protection, for tests only.
PIN_KEYS = {
    "DIRECTORY_PIN_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
    "DIRECTORY_PIN_HASH_KEY": "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
}
CUSTODY = "Vårdnadshavare"


@pytest.fixture(scope="module")
def municipality():
    return generate(SEED, SMALL)


def account(person_id: str, *roles: str) -> Caller:
    return Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id, roles=roles, assurance="bankid")


def call_as(rabbit_config, service_name: str, caller: Caller, method: str, *args, timeout: float = 10):
    context = {"caller": caller.to_context(), "calling_service": "gateway"}
    with ServiceRpcProxy(service_name, {"AMQP_URI": rabbit_config["AMQP_URI"]}, context_data=context, timeout=timeout) as proxy:
        return getattr(proxy, method)(*args)


@pytest.fixture
def stack(start_service, start_messaging, rabbit_config, municipality, tmp_path):
    """Start the real directory and messaging, then import the municipality by RPC; return messaging's proxy."""
    write_dump(municipality, str(tmp_path / "small"))
    start_service(SchoolDirectoryService, DIRECTORY_IMPORT_DIR=str(tmp_path), **PIN_KEYS)
    messaging = start_messaging()

    administrator = account("directory-administrator", "administrator")
    report = call_as(rabbit_config, "school_directory", administrator, "import_ss12000", "small", timeout=60)
    assert report["status"] == "complete", report["error"]
    return messaging


def child_with_two_guardians(municipality) -> dict:
    """Return a generated child in the custody of two guardians, with a current enrolment or placement."""
    placed = {
        placement["child"]["id"]: placement["placedAt"]["id"]
        for placement in municipality.entities["placements"]
        if "endDate" not in placement
    }
    for person in municipality.entities["persons"]:
        guardians = [r["person"]["id"] for r in person["responsibles"] if r["relationType"] == CUSTODY]
        unit_id = person["enrolments"][0]["enroledAt"]["id"] if person["enrolments"] else placed.get(person["id"])
        if len(guardians) == 2 and unit_id:
            return {"person_id": person["id"], "unit_id": unit_id, "guardian_person_ids": guardians}
    raise AssertionError("the generated municipality has no child with two guardians")


def read_model_counts(database_url: str, child_person_id: str, guardian_person_ids: list[str]) -> tuple[int, int, int]:
    """Return (guardianships with custody of the child, persons known of the family, guardians' contact rows)."""
    family = [child_person_id, *guardian_person_ids]
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            guardianships = connection.execute(
                sa.text("SELECT count(*) FROM guardianship WHERE child_person_id = :child AND custody AND active"),
                {"child": child_person_id},
            ).scalar()
            persons = connection.execute(
                sa.text("SELECT count(*) FROM person WHERE person_id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": family},
            ).scalar()
            contacts = connection.execute(
                sa.text("SELECT count(*) FROM contact WHERE person_id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": guardian_person_ids},
            ).scalar()
    finally:
        engine.dispose()
    return guardianships, persons, contacts


def test_import_events_and_contacts_send_notices(stack, rabbit_config, municipality, sms_sink, smtp_server):
    amqp_uri = rabbit_config["AMQP_URI"]
    child = child_with_two_guardians(municipality)
    guardians = child["guardian_person_ids"]
    wait_for(lambda: read_model_counts(stack.database_url, child["person_id"], guardians)[:2] == (2, 3), timeout=60)

    mobiles = ["+46701110001", "+46701110002"]
    emails = ["forsta@example.se", "andra@example.se"]
    for guardian_person_id, mobile, email in zip(guardians, mobiles, emails):
        publish(amqp_uri, "identity", "contact_details_changed", {
            "account_id": str(uuid.uuid4()),
            "person_id": guardian_person_id,
            "email": email,
            "mobile": mobile,
            "language": "sv",
            "preferences": {"sms": True, "email": True},
            "protected_identity": False,
            "changed_at": "2026-12-01T08:00:00+00:00",
        })
    wait_for(lambda: read_model_counts(stack.database_url, child["person_id"], guardians)[2] == 2)

    publish(amqp_uri, "attendance", "absence_registered", {
        "registration_id": str(uuid.uuid4()),
        "child_person_id": child["person_id"],
        "unit_id": child["unit_id"],
        "lesson_id": str(uuid.uuid4()),
        "lesson_name": "Matematik",
        "local_date": "2026-12-07",
        "local_start_time": "08:15",
        "local_end_time": "09:00",
        "kind": "absent",
        "late_minutes": None,
    })

    wait_for(lambda: len(sms_sink.messages) == 2 and len(smtp_server.messages) == 2, timeout=20)
    assert sms_recipients(sms_sink) == sorted(mobiles)
    assert smtp_recipients(smtp_server) == sorted(emails)
    child_record = next(person for person in municipality.entities["persons"] if person["id"] == child["person_id"])
    assert all(child_record["givenName"] in message["message"] for message in sms_sink.messages)


def test_staff_duty_from_real_directory(stack, rabbit_config, municipality):
    scenario = municipality.scenario
    principal = account(scenario["principal"], "staff")
    outsider = account(scenario["teacher_elsewhere"], "staff")

    notices = call_as(rabbit_config, "messaging", principal, "list_unit_notices", scenario["preschool"])
    with pytest.raises(RemoteError) as raised:
        call_as(rabbit_config, "messaging", outsider, "list_unit_notices", scenario["preschool"])

    assert notices == []
    assert raised.value.exc_type == "Forbidden"
    assert "no_duty_at_unit" in str(raised.value)
