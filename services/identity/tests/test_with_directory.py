"""Identity against the real school directory service, loaded with the directory's generated municipality."""

import os

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy

from identity_testing import account_caller, bankid_login, identity_config, identity_error
from torget_identity.service import IdentityService
from torget_shared.caller import Caller


from torget_school_directory.generator import generate, write_dump  # noqa: E402
from torget_school_directory.service import SchoolDirectoryService  # noqa: E402


@pytest.fixture(scope="module")
def municipality(tmp_path_factory):
    data = generate(12000, "test")
    folder = tmp_path_factory.mktemp("ss12000_dump")
    write_dump(data, str(folder))
    return data, folder


def pin_of(data, person_id: str) -> str:
    person = next(person for person in data.entities["persons"] if person["id"] == person_id)
    return person["civicNo"]["value"]


@pytest.fixture
def real_directory(start_service, rabbit_config, municipality):
    data, folder = municipality
    parent, name = os.path.split(str(folder))
    start_service(
        SchoolDirectoryService,
        DIRECTORY_IMPORT_DIR=parent,
        DIRECTORY_PIN_KEY="a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
        DIRECTORY_PIN_HASH_KEY="aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
    )
    context = {"caller": Caller.for_service("identity").to_context(), "calling_service": "identity"}
    with ServiceRpcProxy("school_directory", rabbit_config, context_data=context, timeout=120) as directory:
        report = directory.import_ss12000(dump_name=name)
    assert report["status"] == "complete", report["error"]
    return data


@pytest.fixture
def identity_on_directory(start_service, real_directory, bankid_server):
    return start_service(IdentityService, **identity_config(bankid_server.url))


def test_real_directory_roles_and_staff_account(identity_on_directory, real_directory, bankid_server, as_caller):
    identity = identity_on_directory
    scenario = real_directory.scenario

    guardian = bankid_login(identity, bankid_server, scenario["guardian_pin"])
    principal = bankid_login(identity, bankid_server, pin_of(real_directory, scenario["principal"]))
    staff = as_caller(account_caller(principal))
    created = staff.create_guardian_account(
        scenario["protected_guardian"], scenario["protected_child"], scenario["preschool"], "Skyddad", "Vårdnadshavare"
    )
    with pytest.raises(RemoteError) as elsewhere:
        staff.create_guardian_account(
            scenario["guardian"], scenario["older_child"], scenario["preschool"], "Exempel", "Exempelsson"
        )

    assert guardian["roles"] == ["guardian"]
    assert as_caller(account_caller(guardian)).me()["person_id"] == scenario["guardian"]
    assert "staff" in principal["roles"]
    assert "principal" in principal["roles"]
    assert created["activation_code"]
    # The older child moved from the preschool to a school this term.
    assert identity_error(elsewhere)["code"] == "child_not_at_unit"
