"""The directory endpoints through the gateway, to the real school directory with its generated municipality.

Callers log in with BankID on the BankID test server and get their access
tokens from the real identity service, which looks them up in the same
directory. The generated data set gets one extra duty, so that a person is
an administrator.
"""

import base64
import copy
import json
import threading
import uuid

import pytest
import requests

from torget_identity.bankid_test_server import make_server
from torget_identity.service import IdentityService
from torget_school_directory.generator import generate, write_dump
from torget_school_directory.importer import Importer
from torget_school_directory.pin import protector_from_env
from torget_school_directory.service import SchoolDirectoryService
from torget_school_directory.sources import DumpSource
from torget_shared.contracts.school_directory import FEATURES
from torget_shared.db import make_engine

PIN_KEYS = {
    "DIRECTORY_PIN_KEY": base64.b64encode(b"p" * 32).decode(),
    "DIRECTORY_PIN_HASH_KEY": base64.b64encode(b"h" * 32).decode(),
}
SWEDISH = {"Accept-Language": "sv"}
ENGLISH = {"Accept-Language": "en"}
MADE_UP_ID = "00000000-0000-4000-8000-000000000000"
DIRECTORY_PATHS = {
    "/directory/me/children",
    "/directory/me/assignments",
    "/directory/children/{child_id}/guardians",
    "/directory/children/{child_id}/placements",
    "/directory/units/{unit_id}/groups",
    "/directory/units/{unit_id}/features",
    "/directory/groups/{group_id}/members",
    "/directory/imports",
}
SMALL_DUMP = "new-group.json"


# -- the municipality, its database and the services ----------------------------------


@pytest.fixture(scope="module")
def municipality():
    """The generated test municipality, with the upper-secondary teacher also the school's administrator."""
    data = copy.deepcopy(generate(12000, "test"))
    scenario = data.scenario
    data.entities["duties"].append(
        {
            "id": str(uuid.uuid4()),
            "meta": {"created": "2026-08-01T06:00:00+00:00", "modified": "2026-08-01T06:00:00+00:00"},
            "person": {"id": scenario["teacher_elsewhere"]},
            "dutyAt": {"id": scenario["upper_secondary"]},
            "dutyRole": "Skoladministratör",
            "signature": "ADMN",
            "startDate": "2024-08-01",
        }
    )
    return data


@pytest.fixture(scope="module")
def import_folder(municipality, tmp_path_factory):
    """The directory's import folder: the whole municipality and a small dump that adds one group."""
    folder = tmp_path_factory.mktemp("directory_imports")
    write_dump(municipality, str(folder / "municipality"))
    new_group = {
        "id": str(uuid.uuid4()),
        "meta": {"created": "2026-11-01T08:00:00+00:00", "modified": "2026-11-01T08:00:00+00:00"},
        "displayName": "Avdelning Importen",
        "groupType": "Avdelning",
        "schoolType": "FS",
        "organisation": {"id": municipality.scenario["preschool"]},
        "startDate": "2026-08-17",
        "groupMemberships": [],
    }
    (folder / SMALL_DUMP).write_text(json.dumps({"groups": [new_group]}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def directory_database(database_factory, import_folder):
    """A directory database with the municipality imported, shared by this module's tests."""
    url = database_factory.create("school_directory")
    engine = make_engine(url)
    report = Importer(engine, protector_from_env(PIN_KEYS)).run(DumpSource(str(import_folder / "municipality")))
    engine.dispose()
    assert report.status == "complete", report.error
    yield url
    database_factory.drop(url)


class BankIdServer:
    """The BankID test server on 127.0.0.1, whose orders a test completes for a personal identity number."""

    def __init__(self):
        self.server = make_server("127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def complete(self, order_ref: str, personal_number: str) -> None:
        response = requests.post(
            f"{self.base}/control/v1/orders/{order_ref}/complete",
            json={"personalNumber": personal_number, "givenName": "Test", "surname": "Person"},
            timeout=5,
        )
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bankid():
    server = BankIdServer()
    yield server
    server.stop()


@pytest.fixture
def gateway(make_app, start_service, directory_database, import_folder, bankid):
    """Start the directory on the imported database, identity on the BankID test server, and a gateway app."""
    start_service(
        SchoolDirectoryService,
        database_url=directory_database,
        DIRECTORY_IMPORT_DIR=str(import_folder),
        **PIN_KEYS,
    )
    start_service(
        IdentityService,
        BANKID_URL=f"{bankid.base}/rp/v6.0",
        BANKID_COLLECT_INTERVAL=0.05,
        IDENTITY_DATA_KEY=base64.b64encode(b"d" * 32).decode(),
        IDENTITY_LOOKUP_KEY=base64.b64encode(b"l" * 32).decode(),
        TORGET_PUBLIC_URL="https://torget.example.se",
    )
    app = make_app(RPC_TIMEOUT=30.0, TOKEN_POLICY_TTL=0.0, RATE_LIMIT_KEY_PREFIX=uuid.uuid4().hex)
    return app.test_client()


@pytest.fixture
def log_in(gateway, bankid, municipality):
    """Return a function that logs a person of the municipality in with BankID and returns request headers."""
    pins = {person["id"]: person["civicNo"]["value"] for person in municipality.entities["persons"]}

    def log_in_as(person_id: str, language: dict = SWEDISH) -> dict:
        started = gateway.post("/identity/bankid/orders")
        assert started.status_code == 201, started.json
        order_ref = started.json["order_ref"]
        bankid.complete(order_ref, pins[person_id])
        polled = gateway.get(f"/identity/bankid/orders/{order_ref}")
        assert polled.json["status"] == "complete", polled.json

        applied = gateway.post("/identity/applications", json={"order_ref": order_ref})
        assert applied.status_code == 201, applied.json
        return {"Authorization": f"Bearer {applied.json['access_token']}", **language}

    return log_in_as


def error(response) -> dict:
    return response.json["error"]


def without_request_id(response) -> dict:
    body = dict(error(response))
    body.pop("request_id")
    return body


# -- without services -------------------------------------------------------------------


def test_anonymous_request_gets_401(client):
    requests_to_make = [
        ("get", "/directory/me/children", None),
        ("get", f"/directory/children/{MADE_UP_ID}/guardians", None),
        ("get", f"/directory/groups/{MADE_UP_ID}/members", None),
        ("put", f"/directory/units/{MADE_UP_ID}/features", {"features": {"teleport": "x"}}),
        ("post", "/directory/imports", {"dump_name": "../etc"}),
    ]

    for method, path, body in requests_to_make:
        response = getattr(client, method)(path, json=body, headers=ENGLISH)
        assert response.status_code == 401, path
        assert error(response)["code"] == "login_required", path
        assert error(response)["message"] == "Log in to do this.", path
        assert response.headers["WWW-Authenticate"] == "Bearer", path


def test_internal_rpcs_have_no_endpoint(client):
    document = client.get("/api/openapi.json").get_json()

    directory_paths = {path for path in document["paths"] if path.startswith("/directory")}

    assert directory_paths == DIRECTORY_PATHS
    for internal in ("person_roles", "unit_features", "child_context"):
        assert client.get(f"/directory/{internal}").status_code == 404


def test_features_schema_lists_every_feature(client):
    document = client.get("/api/openapi.json").get_json()

    switches = document["components"]["schemas"]["FeatureSwitches"]

    assert list(switches["properties"]) == list(FEATURES)
    assert switches["additionalProperties"] is False


# -- through identity to the directory ----------------------------------------------------


def test_guardian_sees_both_children_with_units(log_in, gateway, municipality):
    scenario = municipality.scenario
    guardian = log_in(scenario["guardian"])

    response = gateway.get("/directory/me/children", headers=guardian)

    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "private, no-store"
    children = {child["person_id"]: child for child in response.json}
    assert set(children) == {scenario["younger_child"], scenario["older_child"]}
    younger, older = children[scenario["younger_child"]], children[scenario["older_child"]]
    assert [placement["unit_id"] for placement in younger["placements"]] == [scenario["preschool"]]
    assert [placement["unit_id"] for placement in older["placements"]] == [scenario["school"]]
    assert [group["group_id"] for group in younger["groups"]] == [scenario["department"]]
    assert [group["group_id"] for group in older["groups"]] == [scenario["first_class"]]
    assert younger["family_name"] == "Exempelsson"
    assert younger["protected_identity"] is False


def test_guardian_reads_own_child(log_in, gateway, municipality):
    scenario = municipality.scenario
    guardian = log_in(scenario["guardian"])

    guardians = gateway.get(f"/directory/children/{scenario['older_child']}/guardians", headers=guardian)
    placements = gateway.get(f"/directory/children/{scenario['older_child']}/placements", headers=guardian)

    assert guardians.status_code == 200, guardians.json
    assert [entry["person_id"] for entry in guardians.json] == [scenario["guardian"]]
    assert guardians.json[0]["custody"] is True
    assert "emails" not in guardians.json[0]
    assert placements.status_code == 200, placements.json
    history = [(entry["unit_id"], entry["current"]) for entry in placements.json]
    assert history == [(scenario["previous_preschool"], False), (scenario["school"], True)]


def test_hidden_child_same_as_unknown(log_in, gateway, municipality):
    scenario = municipality.scenario
    other_guardian = log_in(scenario["protected_guardian"])
    child = scenario["older_child"]

    for resource in ("guardians", "placements"):
        hidden = gateway.get(f"/directory/children/{child}/{resource}", headers=other_guardian)
        made_up = gateway.get(f"/directory/children/{MADE_UP_ID}/{resource}", headers=other_guardian)

        assert hidden.status_code == 404, resource
        assert made_up.status_code == 404, resource
        assert without_request_id(hidden) == without_request_id(made_up), resource
        assert error(hidden)["code"] == "not_found"
        assert error(hidden)["message"] == "Barnet hittades inte, eller så får du inte se det."


def test_protected_child_hidden_from_other_guardian(log_in, gateway, municipality):
    scenario = municipality.scenario
    path = f"/directory/groups/{scenario['department']}/members"

    seen_by_guardian = gateway.get(path, headers=log_in(scenario["guardian"]))
    seen_by_own_guardian = gateway.get(path, headers=log_in(scenario["protected_guardian"]))
    seen_by_staff = gateway.get(path, headers=log_in(scenario["teacher_here"]))

    assert seen_by_guardian.status_code == 200, seen_by_guardian.json
    members = {member["person_id"] for member in seen_by_guardian.json["members"]}
    assert scenario["younger_child"] in members
    assert scenario["protected_child"] not in members
    own_members = {member["person_id"]: member for member in seen_by_own_guardian.json["members"]}
    assert own_members[scenario["protected_child"]]["protected_identity"] is True
    assert scenario["protected_child"] in {member["person_id"] for member in seen_by_staff.json["members"]}


def test_staff_sees_assignments_and_own_units(log_in, gateway, municipality):
    scenario = municipality.scenario
    teacher = log_in(scenario["teacher_here"])

    assignments = gateway.get("/directory/me/assignments", headers=teacher)
    own_groups = gateway.get(f"/directory/units/{scenario['preschool']}/groups", headers=teacher)
    other_groups = gateway.get(f"/directory/units/{scenario['upper_secondary']}/groups", headers=teacher)

    assert assignments.status_code == 200, assignments.json
    assert assignments.json["person_id"] == scenario["teacher_here"]
    assert [unit["unit_id"] for unit in assignments.json["units"]] == [scenario["preschool"]]
    assert scenario["department"] in {group["group_id"] for group in assignments.json["groups"]}
    assert scenario["department"] in {group["group_id"] for group in own_groups.json}
    assert other_groups.status_code == 404
    assert error(other_groups)["message"] == "Skolenheten hittades inte, eller så får du inte se den."


def test_principal_switches_features_teacher_cannot(log_in, gateway, municipality):
    scenario = municipality.scenario
    path = f"/directory/units/{scenario['preschool']}/features"
    principal = log_in(scenario["principal"])
    teacher = log_in(scenario["teacher_here"], ENGLISH)

    changed = gateway.put(path, json={"features": {"logbook": False}}, headers=principal)
    seen_by_teacher = gateway.get(path, headers=teacher)
    refused = gateway.put(path, json={"features": {"logbook": True}}, headers=teacher)

    assert changed.status_code == 200, changed.json
    assert changed.json["features"]["logbook"] is False
    assert changed.json["features"]["absence_reporting"] is True
    assert seen_by_teacher.status_code == 200
    assert seen_by_teacher.json["features"]["logbook"] is False
    assert refused.status_code == 404
    assert error(refused)["code"] == "not_found"
    assert error(refused)["message"].startswith("The school unit was not found, or you may not change its features.")
    assert gateway.get(path, headers=principal).json["features"]["logbook"] is False


@pytest.mark.parametrize(
    ("language", "unknown", "not_boolean"),
    [
        (SWEDISH, "Okänt fält.", "Inte ett giltigt booleskt värde."),
        (ENGLISH, "Unknown field.", "Not a valid boolean."),
    ],
    ids=["sv", "en"],
)
def test_bad_feature_change_is_422(log_in, gateway, municipality, language, unknown, not_boolean):
    principal = log_in(municipality.scenario["principal"], language)
    path = f"/directory/units/{municipality.scenario['preschool']}/features"

    unknown_feature = gateway.put(path, json={"features": {"teleportation": True}}, headers=principal)
    text_value = gateway.put(path, json={"features": {"logbook": "false"}}, headers=principal)
    number_value = gateway.put(path, json={"features": {"schedule": 1}}, headers=principal)

    assert unknown_feature.status_code == 422
    assert error(unknown_feature)["code"] == "validation_failed"
    assert error(unknown_feature)["fields"] == {"features.teleportation": [unknown]}
    assert text_value.status_code == 422
    assert error(text_value)["fields"] == {"features.logbook": [not_boolean]}
    assert number_value.status_code == 422
    assert error(number_value)["fields"] == {"features.schedule": [not_boolean]}
    assert "features.schedule" in error(number_value)["message"]


def test_empty_feature_change_is_422(log_in, gateway, municipality):
    principal = log_in(municipality.scenario["principal"])
    path = f"/directory/units/{municipality.scenario['preschool']}/features"

    empty = gateway.put(path, json={"features": {}}, headers=principal)
    missing = gateway.put(path, json={}, headers=principal)

    assert empty.status_code == 422
    assert error(empty)["fields"] == {"features": ["Ange minst en funktion att ändra."]}
    assert missing.status_code == 422
    assert list(error(missing)["fields"]) == ["features"]


def test_administrator_imports_small_dump(log_in, gateway, municipality):
    scenario = municipality.scenario
    administrator = log_in(scenario["teacher_elsewhere"])

    report = gateway.post("/directory/imports", json={"dump_name": SMALL_DUMP}, headers=administrator)
    groups = gateway.get(f"/directory/units/{scenario['preschool']}/groups", headers=administrator)

    assert report.status_code == 200, report.json
    assert report.json["status"] == "complete"
    assert report.json["entities"]["groups"]["created"] == 1
    assert report.json["changes"] == 1
    assert "Avdelning Importen" in {group["display_name"] for group in groups.json}


def test_import_refused_and_checked(log_in, gateway, municipality):
    scenario = municipality.scenario
    principal = log_in(scenario["principal"])
    administrator = log_in(scenario["teacher_elsewhere"], ENGLISH)

    not_administrator = gateway.post("/directory/imports", json={"dump_name": SMALL_DUMP}, headers=principal)
    path = gateway.post("/directory/imports", json={"dump_name": "../municipality"}, headers=administrator)
    missing = gateway.post("/directory/imports", json={"dump_name": "no-such-dump.json"}, headers=administrator)

    assert not_administrator.status_code == 403
    assert error(not_administrator)["code"] == "administrator_required"
    assert error(not_administrator)["message"] == "Bara en administratör får importera till skolkatalogen."
    assert path.status_code == 422
    assert error(path)["fields"] == {"dump_name": ["Give the name of a dump in the import folder, not a path."]}
    assert missing.status_code == 422
    assert error(missing)["code"] == "invalid_dump"
    assert list(error(missing)["fields"]) == ["dump_name"]
    assert error(missing)["message"].startswith("The dump cannot be imported:")
