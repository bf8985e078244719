"""The messaging endpoints through the gateway, to the real messaging service and school directory.

The messaging read model is fed the directory and identity events it
consumes, and the absence notices go to an SMTP server and the SMS sink on
127.0.0.1. The school directory imports the generated test municipality and
answers messaging's question about a staff member's duties. Callers send
ES256 access tokens that the gateway verifies against a JWKS signed here,
standing in for the keys the identity service publishes.
"""

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from nameko.standalone.rpc import ServiceRpcProxy

from torget_gateway.auth import VERIFIER_EXTENSION
from torget_gateway.tokens import TokenVerifier
from torget_messaging.testing import (  # noqa: F401  (sms_sink, smtp_server and start_messaging are fixtures)
    GuardianSpec,
    absence_payload,
    deliveries,
    publish,
    set_up_household,
    sms_sink,
    smtp_server,
    start_messaging,
)
from torget_school_directory.generator import generate, write_dump
from torget_school_directory.service import SchoolDirectoryService
from torget_shared.caller import Caller
from torget_shared.testing.probe import wait_for

SWEDISH = {"Accept-Language": "sv"}
ENGLISH = {"Accept-Language": "en"}
ISSUER = "torget-identity"
AUDIENCE = "torget"


class TokenSigner:
    """An ES256 key that signs access tokens, and the JWKS and token policy the gateway fetches."""

    def __init__(self):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.kid = uuid.uuid4().hex
        jwk = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        self.identity_replies = {
            "jwks": {
                "keys": [{**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}],
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "algorithms": ["ES256"],
            },
            "token_policy": {"cutoffs": {}, "revoked_sessions": []},
        }

    def bearer(self, person_id: str, role: str, language: dict = SWEDISH) -> dict:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"account-{person_id}",
            "person_id": person_id,
            "roles": [role],
            "assurance": "bankid",
            "sid": f"session-{person_id}",
            "iat": now,
            "exp": now + 300,
        }
        token = jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid})
        return {"Authorization": f"Bearer {token}", **language}


@pytest.fixture(scope="module")
def municipality(tmp_path_factory):
    """The units and two staff members of the generated test municipality as an SS 12000 dump.

    Returns (folder, dump name, scenario). The dump leaves out the children,
    guardians and groups, because the directory publishes an event for each
    and messaging needs none of them here.
    """
    data = generate(12000, "test")
    staff = {data.scenario["teacher_here"], data.scenario["teacher_elsewhere"]}
    data.entities = {
        "organisations": data.entities["organisations"],
        "persons": [person for person in data.entities["persons"] if person["id"] in staff],
        "duties": [duty for duty in data.entities["duties"] if duty["person"]["id"] in staff],
        "placements": [],
        "groups": [],
        "activities": [],
        "calendarEvents": [],
    }
    dump = tmp_path_factory.mktemp("ss12000") / "municipality"
    dump.mkdir()
    write_dump(data, str(dump))
    return str(dump.parent), dump.name, data.scenario


def start_directory(start_service, municipality, amqp_uri: str):
    """Start the school directory, import the dump and wait until the outbox has published every event.

    Messaging starts afterwards, so the directory's events find no queue of
    messaging's, and its read model holds only what each test publishes.
    """
    folder, dump_name, _ = municipality
    directory = start_service(
        SchoolDirectoryService,
        DIRECTORY_IMPORT_DIR=folder,
        DIRECTORY_PIN_KEY=base64.b64encode(b"k" * 32).decode(),
        DIRECTORY_PIN_HASH_KEY=base64.b64encode(b"h" * 32).decode(),
    )
    context = {"caller": Caller.for_service("tests").to_context(), "calling_service": "tests"}
    with ServiceRpcProxy("school_directory", {"AMQP_URI": amqp_uri}, context_data=context, timeout=60) as importer:
        report = importer.import_ss12000(dump_name=dump_name)
    assert report["status"] == "complete", report.get("error")

    wait_for(lambda: directory.health()["outbox"]["pending"] == 0, timeout=60)
    return directory


@pytest.fixture
def signer():
    return TokenSigner()


@pytest.fixture
def stack(make_app, start_service, start_messaging, municipality, rabbit_config, signer, smtp_server):
    """Start the directory, then messaging and a gateway app, and send one notice to two guardians at the preschool.

    The SMTP server rejects Omar's address, so his e-mail fails for good.
    """
    amqp_uri = rabbit_config["AMQP_URI"]
    start_directory(start_service, municipality, amqp_uri)
    messaging = start_messaging()
    _, _, scenario = municipality

    household = set_up_household(
        amqp_uri,
        messaging.database_url,
        [
            GuardianSpec("Karin", mobile="+46701234567", email="karin@example.se"),
            GuardianSpec("Omar", mobile="+46707654321", email="omar@example.se"),
        ],
    )
    household.unit_id = scenario["preschool"]
    smtp_server.rejected_recipients.add("omar@example.se")
    publish(amqp_uri, "attendance", "absence_registered", absence_payload(household, unit_id=household.unit_id))
    wait_for(lambda: sorted(row["state"] for row in deliveries(messaging.database_url)) == ["failed", "sent", "sent", "sent"])

    app = make_app(TOKEN_POLICY_TTL=0.0)
    app.extensions[VERIFIER_EXTENSION] = TokenVerifier(signer.identity_replies.__getitem__)
    return app.test_client(), household, scenario


def error_without_request_id(response) -> dict:
    return {key: value for key, value in response.json["error"].items() if key != "request_id"}


def test_guardian_acknowledges_and_staff_see_it(stack, signer):
    client, household, scenario = stack
    karin, omar = household.guardians
    as_karin = signer.bearer(karin.person_id, "guardian")
    as_teacher = signer.bearer(scenario["teacher_here"], "staff")

    listed = client.get("/messaging/notices", headers=as_karin)
    assert listed.status_code == 200, listed.json
    [notice] = listed.json
    assert notice["child_person_id"] == household.child_person_id
    assert notice["lesson_name"] == "Matematik"
    assert (notice["local_date"], notice["local_start_time"], notice["local_end_time"]) == ("2026-12-07", "08:15", "09:00")
    assert notice["kind"] == "absent"
    assert notice["acknowledged_at"] is None
    assert listed.headers["Cache-Control"] == "private, no-store"

    acknowledged = client.post(f"/messaging/notices/{notice['notice_id']}/acknowledgement", headers=as_karin)
    again = client.post(f"/messaging/notices/{notice['notice_id']}/acknowledgement", headers=as_karin)
    assert acknowledged.status_code == 200, acknowledged.json
    assert again.json["acknowledged_at"] == acknowledged.json["acknowledged_at"]
    [relisted] = client.get("/messaging/notices", headers=as_karin).json
    assert relisted["acknowledged_at"] == acknowledged.json["acknowledged_at"]

    unit = client.get(f"/messaging/units/{household.unit_id}/notices", headers=as_teacher)
    assert unit.status_code == 200, unit.json
    [unit_notice] = unit.json
    guardians = {entry["guardian_person_id"]: entry for entry in unit_notice["guardians"]}
    assert guardians[karin.person_id]["acknowledged_at"] == acknowledged.json["acknowledged_at"]
    assert guardians[karin.person_id]["name"] == "Karin Lind"
    assert guardians[omar.person_id]["acknowledged_at"] is None
    omar_states = {delivery["channel"]: delivery["state"] for delivery in guardians[omar.person_id]["deliveries"]}
    assert omar_states == {"sms": "sent", "email": "failed"}

    same_day = client.get(f"/messaging/units/{household.unit_id}/notices?local_date=2026-12-07", headers=as_teacher)
    other_day = client.get(f"/messaging/units/{household.unit_id}/notices?local_date=2026-12-08", headers=as_teacher)
    assert len(same_day.json) == 1
    assert other_day.json == []

    # Staff see delivery states, never the guardians' addresses.
    assert "+46" not in json.dumps(unit.json)
    assert "@" not in json.dumps(unit.json)


def test_staff_see_failed_notifications(stack, signer):
    client, household, scenario = stack
    _, omar = household.guardians

    failed = client.get(
        f"/messaging/units/{household.unit_id}/failed-notifications",
        headers=signer.bearer(scenario["teacher_here"], "staff"),
    )

    assert failed.status_code == 200, failed.json
    [notification] = failed.json
    assert notification["guardian_person_id"] == omar.person_id
    assert notification["channel"] == "email"
    assert notification["attempts"] == 1
    assert "550" in notification["reason"]
    assert "omar@example.se" not in json.dumps(failed.json)


def test_other_guardians_notice_is_404(stack, signer):
    client, household, _ = stack
    karin, _ = household.guardians
    [notice] = client.get("/messaging/notices", headers=signer.bearer(karin.person_id, "guardian")).json
    stranger = str(uuid.uuid4())

    for language in (SWEDISH, ENGLISH):
        as_stranger = signer.bearer(stranger, "guardian", language)
        others = client.post(f"/messaging/notices/{notice['notice_id']}/acknowledgement", headers=as_stranger)
        made_up = client.post(f"/messaging/notices/{uuid.uuid4()}/acknowledgement", headers=as_stranger)

        assert others.status_code == 404
        assert made_up.status_code == 404
        assert error_without_request_id(others) == error_without_request_id(made_up)
        assert others.json["error"]["code"] == "notice_not_found"
    assert others.json["error"]["message"] == "You have no absence notice with this id."

    [unchanged] = client.get("/messaging/notices", headers=signer.bearer(karin.person_id, "guardian")).json
    assert unchanged["acknowledged_at"] is None


def test_staff_without_duty_at_unit_gets_403(stack, signer):
    client, household, scenario = stack
    karin, _ = household.guardians

    elsewhere = client.get(
        f"/messaging/units/{household.unit_id}/notices", headers=signer.bearer(scenario["teacher_elsewhere"], "staff")
    )
    guardian = client.get(
        f"/messaging/units/{household.unit_id}/failed-notifications",
        headers=signer.bearer(karin.person_id, "guardian", ENGLISH),
    )

    assert elsewhere.status_code == 403
    assert elsewhere.json["error"]["code"] == "no_duty_at_unit"
    assert elsewhere.json["error"]["message"] == f"Du har inget uppdrag på skolenheten {household.unit_id}."
    assert guardian.status_code == 403
    assert guardian.json["error"]["message"] == "Only staff may see a school unit's absence notices."


@pytest.mark.parametrize(
    ("language", "message"),
    [(SWEDISH, "Logga in för att göra detta."), (ENGLISH, "Log in to do this.")],
)
def test_anonymous_gets_401(make_app, start_messaging, language, message):
    start_messaging()
    client = make_app().test_client()
    notice_id = uuid.uuid4()

    responses = {
        "notices": client.get("/messaging/notices", headers=language),
        "acknowledge": client.post(f"/messaging/notices/{notice_id}/acknowledgement", headers=language),
        "unit notices": client.get("/messaging/units/unit-1/notices", headers=language),
        "failed": client.get("/messaging/units/unit-1/failed-notifications", headers=language),
    }

    for name, response in responses.items():
        assert response.status_code == 401, name
        assert response.json["error"]["code"] == "login_required", name
        assert response.json["error"]["message"] == message, name
        assert response.headers["WWW-Authenticate"] == "Bearer", name


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/messaging/notices?limit=0", "limit"),
        ("/messaging/notices?limit=201", "limit"),
        ("/messaging/notices?limit=many", "limit"),
        ("/messaging/units/unit-1/notices?local_date=2026-13-01", "local_date"),
    ],
)
def test_bad_query_is_422_naming_field(client, path, field):
    response = client.get(path, headers=ENGLISH)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_failed"
    assert list(response.json["error"]["fields"]) == [field]
    assert field in response.json["error"]["message"]


def test_openapi_documents_messaging_paths(client):
    document = client.get("/api/openapi.json").json
    paths = document["paths"]

    assert "get" in paths["/messaging/notices"]
    assert "post" in paths["/messaging/notices/{notice_id}/acknowledgement"]
    assert "get" in paths["/messaging/units/{unit_id}/notices"]
    assert "get" in paths["/messaging/units/{unit_id}/failed-notifications"]
    guardian_notice = document["components"]["schemas"]["GuardianNotice"]["properties"]
    assert {"child_person_id", "lesson_name", "local_date", "local_start_time", "acknowledged_at"} <= set(guardian_notice)
    assert "guardians" in document["components"]["schemas"]["UnitNotice"]["properties"]
