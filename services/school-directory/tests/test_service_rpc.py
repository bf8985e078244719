"""The school_directory service on the broker: import by RPC, caller checks, internal RPCs, events."""

import os

import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy

from torget_shared.caller import ACCOUNT, Caller
from torget_shared.outbox import outbox_table

from torget_school_directory.service import SchoolDirectoryService


@pytest.fixture
def service(start_service, dump_folder):
    folder, name = os.path.split(str(dump_folder))
    return start_service(
        SchoolDirectoryService,
        DIRECTORY_IMPORT_DIR=folder,
        DIRECTORY_PIN_KEY="a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
        DIRECTORY_PIN_HASH_KEY="aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        dump_name=name,
    )


@pytest.fixture
def call(rabbit_config):
    """Return a function that calls the service as a caller from a component."""
    proxies = []

    def call_as(caller: Caller, calling_service: str):
        context = {"caller": caller.to_context(), "calling_service": calling_service}
        proxy = ServiceRpcProxy("school_directory", rabbit_config, context_data=context, timeout=60)
        proxies.append(proxy)
        return proxy.start()

    yield call_as
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def loaded(service, call):
    name = service.container.config["dump_name"]
    report = call(Caller.for_service("identity"), "identity").import_ss12000(dump_name=name)
    assert report["status"] == "complete", report["error"]
    return report


def _account(person_id: str, *roles: str) -> Caller:
    return Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id, roles=roles, assurance="bankid")


def test_import_rpc_rejected_for_guardian(service, call, municipality):
    guardian = call(_account(municipality.scenario["guardian"], "guardian"), "gateway")
    with pytest.raises(RemoteError) as error:
        guardian.import_ss12000(dump_name="anything")
    assert error.value.exc_type == "NotFound"


def test_guardian_children_over_rpc(loaded, call, municipality):
    scenario = municipality.scenario
    guardian = call(_account(scenario["guardian"], "guardian"), "gateway")

    children = guardian.guardian_children()

    assert {child["person_id"] for child in children} == {scenario["younger_child"], scenario["older_child"]}


def test_internal_rpc_refused_from_gateway(loaded, call, municipality):
    client = call(_account(municipality.scenario["guardian"], "guardian"), "gateway")
    with pytest.raises(RemoteError) as error:
        client.person_roles(municipality.scenario["guardian_pin"])
    assert error.value.exc_type == "InternalOnly"
    with pytest.raises(RemoteError) as error:
        client.unit_staff(municipality.scenario["preschool"])
    assert error.value.exc_type == "InternalOnly"


def test_person_roles_for_identity_service(loaded, call, municipality):
    scenario = municipality.scenario
    identity = call(Caller.for_service("identity"), "identity")

    roles = identity.person_roles(scenario["guardian_pin"])

    assert roles["person_id"] == scenario["guardian"]
    assert sorted(roles["guardian_of"]) == sorted([scenario["younger_child"], scenario["older_child"]])
    assert identity.is_guardian(scenario["guardian"], scenario["older_child"]) is True
    assert identity.child_context(scenario["older_child"])["units"][0]["unit_id"] == scenario["school"]
    assert scenario["principal"] in [member["person_id"] for member in identity.unit_staff(scenario["preschool"])]


def test_principal_switches_feature_and_event_is_written(loaded, call, municipality, service):
    scenario = municipality.scenario
    principal = call(_account(scenario["principal"], "staff"), "gateway")

    result = principal.set_unit_features(scenario["preschool"], {"logbook": False})

    assert result["features"]["logbook"] is False
    assert call(Caller.for_service("messaging"), "messaging").unit_features(scenario["preschool"]) == result
    engine = sa.create_engine(service.database_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as connection:
        payloads = [
            row.envelope["payload"]
            for row in connection.execute(
                sa.select(outbox_table.c.envelope).where(outbox_table.c.event_type == "unit_features_changed")
            )
        ]
    engine.dispose()
    assert payloads == [
        {
            "unit_id": scenario["preschool"],
            "features": result["features"],
            "changed": ["logbook"],
            "changed_by_person_id": scenario["principal"],
        }
    ]


def test_teacher_cannot_switch_features(loaded, call, municipality):
    teacher = call(_account(municipality.scenario["teacher_here"], "staff"), "gateway")
    with pytest.raises(RemoteError) as error:
        teacher.set_unit_features(municipality.scenario["preschool"], {"logbook": False})
    assert error.value.exc_type == "NotFound"
    assert teacher.get_unit_features(municipality.scenario["preschool"])["features"]["logbook"] is True


def test_unknown_feature_is_invalid(loaded, call, municipality):
    administrator = call(_account(municipality.scenario["principal"], "administrator"), "gateway")
    with pytest.raises(RemoteError) as error:
        administrator.set_unit_features(municipality.scenario["preschool"], {"homework": True})
    assert error.value.exc_type == "InvalidRequest"
    assert "unknown feature homework" in error.value.value
