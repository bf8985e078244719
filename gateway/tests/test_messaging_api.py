"""The messaging endpoints through the gateway, to the real messaging service and school directory.

The messaging read model is fed the directory and identity events it
consumes, and the absence notices go to an SMTP server and the SMS sink on
127.0.0.1. For the absence notices the school directory imports the
generated test municipality and answers messaging's question about a staff
member's duties. The announcement tests need groups, placements and
guardians, so they use messaging's stand-in school directory, filled per
test. Messaging's own suite runs announcements against the real directory.
Callers send ES256 access tokens that the gateway verifies against a JWKS
signed here, standing in for the keys the identity service publishes.
"""

import base64
import json
import time
import uuid

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from nameko.standalone.rpc import ServiceRpcProxy

from torget_gateway.auth import VERIFIER_EXTENSION
from torget_gateway.tokens import TokenVerifier
from torget_messaging.testing import (  # noqa: F401  (directory_data, sms_sink, smtp_server, start_messaging are fixtures)
    GuardianSpec,
    absence_payload,
    deliveries,
    directory_data,
    publish,
    publish_people,
    set_up_household,
    sms_sink,
    smtp_server,
    start_messaging,
)
from torget_school_directory.generator import generate, write_dump
from torget_school_directory.service import SchoolDirectoryService
from torget_shared.caller import Caller
from torget_shared.db import make_engine
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
    assert guardian.json["error"]["message"] == "Only staff may do this."


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
        "announcements": client.get("/messaging/announcements", headers=language),
        "mark read": client.post(f"/messaging/announcements/{notice_id}/read", headers=language),
        "post": client.post(
            "/messaging/units/unit-1/announcements",
            json={"audience": "unit", "title": "Stängt", "body": "Skolan är stängd på fredag."},
            headers=language,
        ),
        "unit announcements": client.get("/messaging/units/unit-1/announcements", headers=language),
        "reads": client.get(f"/messaging/announcements/{notice_id}/reads", headers=language),
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
        ("/messaging/announcements?limit=0", "limit"),
        ("/messaging/announcements?limit=201", "limit"),
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
    assert "get" in paths["/messaging/announcements"]
    assert "post" in paths["/messaging/announcements/{announcement_id}/read"]
    assert set(paths["/messaging/units/{unit_id}/announcements"]) >= {"get", "post"}
    assert "201" in paths["/messaging/units/{unit_id}/announcements"]["post"]["responses"]
    assert "get" in paths["/messaging/announcements/{announcement_id}/reads"]
    schemas = document["components"]["schemas"]
    assert set(schemas["NewAnnouncement"]["required"]) == {"audience", "title", "body"}
    assert set(schemas["GuardianAnnouncement"]["properties"]) == {
        "announcement_id",
        "unit_id",
        "audience",
        "group_id",
        "published_at",
        "title",
        "body",
        "language",
        "read_at",
    }
    guardian_notice = document["components"]["schemas"]["GuardianNotice"]["properties"]
    assert {"child_person_id", "lesson_name", "local_date", "local_start_time", "acknowledged_at"} <= set(guardian_notice)
    assert "guardians" in document["components"]["schemas"]["UnitNotice"]["properties"]


# Announcements


class School:
    """A school unit with one class of one child, whose guardians read Swedish and English, and a unit elsewhere.

    Erik's child is at the other unit, and each unit has a teacher.
    """

    def __init__(self, amqp_uri: str, database_url: str, directory_data):
        self.karin = GuardianSpec("Karin", language="sv", email="karin@example.se")
        self.john = GuardianSpec("John", language="en", email="john@example.se")
        self.erik = GuardianSpec("Erik", language="sv", email="erik@example.se")
        household = set_up_household(amqp_uri, database_url, [self.karin, self.john])
        elsewhere = set_up_household(amqp_uri, database_url, [self.erik])

        self.unit_id = household.unit_id
        self.other_unit_id = elsewhere.unit_id
        self.group_id = str(uuid.uuid4())
        self.other_group_id = str(uuid.uuid4())
        self.teacher_id = str(uuid.uuid4())
        self.teacher_elsewhere_id = str(uuid.uuid4())

        directory_data.add_duty(self.teacher_id, self.unit_id)
        directory_data.add_duty(self.teacher_elsewhere_id, self.other_unit_id)
        directory_data.add_group(self.group_id, self.unit_id, [household.child_person_id])
        directory_data.add_group(self.other_group_id, self.other_unit_id, [elsewhere.child_person_id])
        directory_data.add_child(household.child_person_id, self.unit_id, [self.karin.person_id, self.john.person_id])
        directory_data.add_child(elsewhere.child_person_id, self.other_unit_id, [self.erik.person_id])
        self.directory_data = directory_data
        self.child_id = household.child_person_id


@pytest.fixture
def school(make_app, start_messaging, directory_data, rabbit_config, signer, smtp_server):
    """Start messaging next to the stand-in directory, and return a gateway client and the school."""
    messaging = start_messaging()
    built = School(rabbit_config["AMQP_URI"], messaging.database_url, directory_data)
    built.amqp_uri = rabbit_config["AMQP_URI"]
    built.database_url = messaging.database_url

    app = make_app(TOKEN_POLICY_TTL=0.0)
    app.extensions[VERIFIER_EXTENSION] = TokenVerifier(signer.identity_replies.__getitem__)
    return app.test_client(), built


ENGLISH_TRIP = {"en": {"title": "Trip to the forest", "body": "We go to the forest on Friday."}}


def trip(**overrides) -> dict:
    announcement = {
        "audience": "group_guardians",
        "title": "Utflykt till skogen",
        "body": "Vi går till skogen på fredag.",
        "translations": ENGLISH_TRIP,
    }
    announcement.update(overrides)
    return announcement


def post_trip(client, school, signer, **overrides):
    announcement = trip(group_id=school.group_id, **overrides)
    response = client.post(
        f"/messaging/units/{school.unit_id}/announcements",
        json=announcement,
        headers=signer.bearer(school.teacher_id, "staff"),
    )
    assert response.status_code == 201, response.json
    return response.json


def test_post_reaches_guardians_in_language(school, signer):
    client, school = school

    posted = post_trip(client, school, signer)
    for_karin = client.get("/messaging/announcements", headers=signer.bearer(school.karin.person_id, "guardian"))
    for_john = client.get("/messaging/announcements", headers=signer.bearer(school.john.person_id, "guardian"))
    for_erik = client.get("/messaging/announcements", headers=signer.bearer(school.erik.person_id, "guardian"))

    assert posted["unit_id"] == school.unit_id
    assert (posted["audience"], posted["group_id"]) == ("group_guardians", school.group_id)
    assert posted["author_person_id"] == school.teacher_id
    assert posted["translations"] == ENGLISH_TRIP
    assert posted["read_count"] == 0
    assert for_karin.status_code == 200, for_karin.json
    [karins] = for_karin.json
    assert karins["announcement_id"] == posted["announcement_id"]
    assert (karins["title"], karins["body"], karins["language"]) == (
        "Utflykt till skogen",
        "Vi går till skogen på fredag.",
        "sv",
    )
    assert karins["read_at"] is None
    [johns] = for_john.json
    assert johns["announcement_id"] == posted["announcement_id"]
    assert (johns["title"], johns["body"], johns["language"]) == (
        "Trip to the forest",
        "We go to the forest on Friday.",
        "en",
    )
    assert for_erik.status_code == 200
    assert for_erik.json == []
    assert for_karin.headers["Cache-Control"] == "private, no-store"


def test_guardian_limit_keeps_newest(school, signer):
    client, school = school
    post_trip(client, school, signer, title="Första")
    newest = post_trip(client, school, signer, title="Andra")

    listed = client.get("/messaging/announcements?limit=1", headers=signer.bearer(school.karin.person_id, "guardian"))

    assert listed.status_code == 200, listed.json
    assert [entry["announcement_id"] for entry in listed.json] == [newest["announcement_id"]]


def test_read_marking_and_reads_for_staff(school, signer):
    client, school = school
    posted = post_trip(client, school, signer)
    announcement_id = posted["announcement_id"]
    as_karin = signer.bearer(school.karin.person_id, "guardian")
    as_teacher = signer.bearer(school.teacher_id, "staff")

    first = client.post(f"/messaging/announcements/{announcement_id}/read", headers=as_karin)
    again = client.post(f"/messaging/announcements/{announcement_id.upper()}/read", headers=as_karin)
    [karins] = client.get("/messaging/announcements", headers=as_karin).json
    [johns] = client.get("/messaging/announcements", headers=signer.bearer(school.john.person_id, "guardian")).json
    reads = client.get(f"/messaging/announcements/{announcement_id}/reads", headers=as_teacher)
    unit = client.get(f"/messaging/units/{school.unit_id}/announcements", headers=as_teacher)

    assert first.status_code == 200, first.json
    assert first.json["announcement_id"] == announcement_id
    assert again.json["read_at"] == first.json["read_at"]
    assert karins["read_at"] == first.json["read_at"]
    assert johns["read_at"] is None
    assert reads.status_code == 200, reads.json
    assert reads.json == {
        "announcement_id": announcement_id,
        "read_count": 1,
        "readers": [
            {
                "guardian_person_id": school.karin.person_id,
                "name": "Karin Lind",
                "protected_identity": False,
                "read_at": first.json["read_at"],
            }
        ],
    }
    assert unit.status_code == 200, unit.json
    [listed] = unit.json
    assert listed["announcement_id"] == announcement_id
    assert listed["read_count"] == 1
    assert listed["translations"] == ENGLISH_TRIP
    assert reads.headers["Cache-Control"] == "private, no-store"


def test_repeated_post_returns_first(school, signer):
    client, school = school
    announcement_id = str(uuid.uuid4())

    first = post_trip(client, school, signer, announcement_id=announcement_id)
    again = post_trip(client, school, signer, announcement_id=announcement_id, title="Ändrad rubrik")
    in_use = client.post(
        f"/messaging/units/{school.other_unit_id}/announcements",
        json=trip(audience="unit", announcement_id=announcement_id),
        headers=signer.bearer(school.teacher_elsewhere_id, "staff", ENGLISH),
    )
    unit = client.get(f"/messaging/units/{school.unit_id}/announcements", headers=signer.bearer(school.teacher_id, "staff"))

    assert again == first
    assert [entry["announcement_id"] for entry in unit.json] == [announcement_id]
    assert in_use.status_code == 409
    assert in_use.json["error"]["code"] == "announcement_id_in_use"
    assert in_use.json["error"]["message"] == (
        f"The announcement id {announcement_id} is already used by another announcement. Post with a new id."
    )


# Each case: the body's change, the field named, and the message in Swedish and in English.
INVALID_ANNOUNCEMENTS = [
    pytest.param(
        {"title": "   "},
        "title",
        ("Fältet title saknas eller är tomt.", "The field title is missing or empty."),
        id="blank title",
    ),
    pytest.param(
        {"title": "x" * 201},
        "title",
        ("Fältet title är längre än 200 tecken.", "The field title is longer than 200 characters."),
        id="long title",
    ),
    pytest.param(
        {"translations": {"ar": {"title": " ", "body": "نذهب إلى الغابة يوم الجمعة."}}},
        "translations.ar.title",
        (
            "Fältet translations.ar.title saknas eller är tomt.",
            "The field translations.ar.title is missing or empty.",
        ),
        id="blank translated title",
    ),
    pytest.param(
        {"body": "Eleven 20121212-1212 har fått ett nytt schema."},
        "body",
        (
            "Fältet body innehåller ett personnummer. Ta bort det och skicka igen.",
            "The field body contains a personal identity number. Remove it and post again.",
        ),
        id="personal identity number",
    ),
    pytest.param(
        {"translations": {"sv": {"title": "Titel", "body": "Text"}}},
        "translations.sv",
        (
            "Fälten title och body innehåller den svenska texten, så translations.sv behövs inte. Ta bort den.",
            "The fields title and body contain the Swedish text, so translations.sv is not needed. Remove it.",
        ),
        id="Swedish translation",
    ),
    pytest.param(
        {"translations": {"not a language": {"title": "Titel", "body": "Text"}}},
        "translations",
        (
            "Språkkoden not a language i translations är ogiltig. Använd en kod som en, ar eller so.",
            "The language code not a language in translations is not valid. Use a code such as en, ar or so.",
        ),
        id="invalid language",
    ),
    pytest.param(
        {"translations": {"en": {"title": "Trip"}}},
        "translations.en.body",
        ("Fältet är obligatoriskt men saknas.", "Missing data for required field."),
        id="translation without body",
    ),
    pytest.param(
        {"audience": "group", "group_id": None},
        "group_id",
        ("Fältet är obligatoriskt men saknas.", "Missing data for required field."),
        id="group without group_id",
    ),
    pytest.param(
        {"audience": "everyone"},
        "audience",
        ("Måste vara ett av: unit, group, group_guardians.", "Must be one of: unit, group, group_guardians."),
        id="unknown audience",
    ),
    pytest.param(
        {"body": "Vi går till skogen\x00 på fredag."},
        "body",
        ("Får inte innehålla NUL-tecknet (U+0000).", "Must not contain the NUL character (U+0000)."),
        id="NUL character",
    ),
    pytest.param(
        {"announcement_id": "not-a-uuid"},
        "announcement_id",
        ("Inte ett giltigt UUID.", "Not a valid UUID."),
        id="invalid announcement id",
    ),
]


@pytest.mark.parametrize(("change", "field", "messages"), INVALID_ANNOUNCEMENTS)
def test_invalid_announcement_names_field(school, signer, change, field, messages):
    client, school = school
    announcement = trip(group_id=school.group_id) | change

    for language, message in zip((SWEDISH, ENGLISH), messages):
        response = client.post(
            f"/messaging/units/{school.unit_id}/announcements",
            json=announcement,
            headers=signer.bearer(school.teacher_id, "staff", language),
        )

        assert response.status_code == 422, response.json
        assert response.json["error"]["fields"] == {field: [message]}
        assert field in response.json["error"]["message"]
        assert message in response.json["error"]["message"]

    unit = client.get(f"/messaging/units/{school.unit_id}/announcements", headers=signer.bearer(school.teacher_id, "staff"))
    assert unit.json == []


def test_guardian_rejected_from_staff_endpoints(school, signer):
    client, school = school
    posted = post_trip(client, school, signer)
    as_karin = signer.bearer(school.karin.person_id, "guardian")

    responses = {
        "post": client.post(
            f"/messaging/units/{school.unit_id}/announcements", json=trip(group_id=school.group_id), headers=as_karin
        ),
        "unit announcements": client.get(f"/messaging/units/{school.unit_id}/announcements", headers=as_karin),
        "reads": client.get(f"/messaging/announcements/{posted['announcement_id']}/reads", headers=as_karin),
    }

    for name, response in responses.items():
        assert response.status_code == 403, name
        assert response.json["error"]["code"] == "staff_role_required", name
        assert response.json["error"]["message"] == "Bara personal får göra detta.", name
    assert len(client.get("/messaging/announcements", headers=as_karin).json) == 1


def test_teacher_rejected_from_guardian_endpoints(school, signer):
    client, school = school
    posted = post_trip(client, school, signer)
    as_teacher = signer.bearer(school.teacher_id, "staff", ENGLISH)

    listed = client.get("/messaging/announcements", headers=as_teacher)
    read = client.post(f"/messaging/announcements/{posted['announcement_id']}/read", headers=as_teacher)

    for response in (listed, read):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "guardian_role_required"
        assert response.json["error"]["message"] == "Only guardians get absence notices and announcements."


def test_staff_of_other_unit_rejected(school, signer):
    client, school = school
    posted = post_trip(client, school, signer)
    as_elsewhere = signer.bearer(school.teacher_elsewhere_id, "staff")

    post = client.post(
        f"/messaging/units/{school.unit_id}/announcements", json=trip(group_id=school.group_id), headers=as_elsewhere
    )
    listed = client.get(f"/messaging/units/{school.unit_id}/announcements", headers=as_elsewhere)
    reads = client.get(f"/messaging/announcements/{posted['announcement_id']}/reads", headers=as_elsewhere)
    made_up = client.get(f"/messaging/announcements/{uuid.uuid4()}/reads", headers=as_elsewhere)
    foreign_group = client.post(
        f"/messaging/units/{school.unit_id}/announcements",
        json=trip(group_id=school.other_group_id),
        headers=signer.bearer(school.teacher_id, "staff"),
    )

    for response in (post, listed):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "no_duty_at_unit"
        assert response.json["error"]["message"] == f"Du har inget uppdrag på skolenheten {school.unit_id}."
    # Staff of another unit cannot tell a real announcement from a made-up id.
    assert reads.status_code == 404
    assert error_without_request_id(reads) == error_without_request_id(made_up)
    assert reads.json["error"]["code"] == "announcement_not_found"
    assert foreign_group.status_code == 404
    assert foreign_group.json["error"]["code"] == "group_not_found"
    assert foreign_group.json["error"]["message"] == f"Gruppen {school.other_group_id} hittades inte."
    unit = client.get(f"/messaging/units/{school.unit_id}/announcements", headers=signer.bearer(school.teacher_id, "staff"))
    assert [entry["announcement_id"] for entry in unit.json] == [posted["announcement_id"]]


def test_unknown_announcement_is_404(school, signer):
    client, school = school
    posted = post_trip(client, school, signer)
    made_up = str(uuid.uuid4())

    for language, message in (
        (SWEDISH, "Meddelandet hittades inte, eller så får du inte se det."),
        (ENGLISH, "The announcement was not found, or you may not see it."),
    ):
        unknown = client.post(
            f"/messaging/announcements/{made_up}/read", headers=signer.bearer(school.karin.person_id, "guardian", language)
        )
        not_reaching = client.post(
            f"/messaging/announcements/{posted['announcement_id']}/read",
            headers=signer.bearer(school.erik.person_id, "guardian", language),
        )
        reads = client.get(
            f"/messaging/announcements/{made_up}/reads", headers=signer.bearer(school.teacher_id, "staff", language)
        )
        # A path with a NUL character gets the gateway's own 404 (see test_errors).
        malformed = [
            client.post(
                "/messaging/announcements/not-a-uuid/read",
                headers=signer.bearer(school.karin.person_id, "guardian", language),
            )
        ]

        for response in (unknown, not_reaching, reads, *malformed):
            assert response.status_code == 404
            assert response.json["error"]["code"] == "announcement_not_found"
            assert response.json["error"]["message"] == message
            assert "fields" not in response.json["error"]
        assert error_without_request_id(unknown) == error_without_request_id(not_reaching)

    reads = client.get(
        f"/messaging/announcements/{posted['announcement_id']}/reads", headers=signer.bearer(school.teacher_id, "staff")
    )
    assert reads.json["read_count"] == 0


def switch_announcements_off(school) -> None:
    """Publish the directory's event that the unit turned announcements off, and wait for messaging's read model."""
    features = {"announcements": False, "conversations": True}
    payload = {"unit_id": school.unit_id, "features": features, "changed": ["announcements"]}
    publish(school.amqp_uri, "school_directory", "unit_features_changed", payload)
    query = sa.text("SELECT announcements FROM unit_feature WHERE unit_id = :unit_id")
    engine = make_engine(school.database_url)
    try:

        def switched_off() -> bool:
            with engine.connect() as connection:
                return connection.execute(query, {"unit_id": school.unit_id}).scalar() is False

        wait_for(switched_off, timeout=15)
    finally:
        engine.dispose()


def test_post_rejected_where_announcements_off(school, signer):
    client, school = school
    switch_announcements_off(school)

    for language, message in (
        (SWEDISH, f"Skolenheten {school.unit_id} har stängt av meddelanden i Torget."),
        (ENGLISH, f"The school unit {school.unit_id} has switched announcements off in Torget."),
    ):
        response = client.post(
            f"/messaging/units/{school.unit_id}/announcements",
            json=trip(group_id=school.group_id),
            headers=signer.bearer(school.teacher_id, "staff", language),
        )

        assert response.status_code == 403
        assert response.json["error"]["code"] == "feature_disabled"
        assert response.json["error"]["message"] == message

    unit = client.get(f"/messaging/units/{school.unit_id}/announcements", headers=signer.bearer(school.teacher_id, "staff"))
    assert unit.json == []


# Conversations and feedback


@pytest.fixture
def talk(school):
    """The school of the announcement tests, with a principal and names for the staff."""
    client, built = school
    built.principal_id = str(uuid.uuid4())
    built.directory_data.add_staff(built.principal_id, built.unit_id, "Rektor", ("Per", "Holm"))
    built.directory_data.names[built.teacher_id] = ("Lena", "Berg")
    publish_people(
        built.amqp_uri, built.database_url, {built.teacher_id: ("Lena", "Berg", False), built.principal_id: ("Per", "Holm", False)}
    )
    return client, built


def test_guardian_and_teacher_converse(talk, signer):
    client, school = talk
    karin = signer.bearer(school.karin.person_id, "guardian")
    teacher = signer.bearer(school.teacher_id, "staff")

    contacts = client.get(f"/messaging/children/{school.child_id}/conversation-contacts", headers=karin)
    assert contacts.status_code == 200, contacts.json
    [unit] = contacts.json["units"]
    assert {member["name"] for member in unit["staff"]} == {"Lena Berg", "Per Holm"}

    started = client.post(
        "/messaging/conversations",
        json={
            "child_person_id": school.child_id,
            "unit_id": school.unit_id,
            "subject": "Glasögon",
            "body": "Har någon hittat ett par blå glasögon?",
            "recipient_person_ids": [school.teacher_id],
        },
        headers=karin,
    )
    assert started.status_code == 201, started.json
    conversation_id = started.json["conversation_id"]

    inbox = client.get("/messaging/conversations", headers=teacher)
    assert (inbox.json["unread_conversations"], inbox.json["unread_messages"]) == (1, 1)

    reply = client.post(f"/messaging/conversations/{conversation_id}/messages", json={"body": "Ja, de ligger hos mig."}, headers=teacher)
    assert reply.status_code == 201, reply.json
    assert reply.json["seq"] == 2

    view = client.get(f"/messaging/conversations/{conversation_id}", headers=karin)
    assert [(message["author"]["name"], message["read"]) for message in view.json["messages"]] == [
        ("Karin Lind", True),
        ("Lena Berg", False),
    ]
    assert view.headers["Cache-Control"] == "private, no-store"
    read = client.post(f"/messaging/conversations/{conversation_id}/read", headers=karin)
    assert read.json["unread_count"] == 0
    assert client.get("/messaging/conversations", headers=karin).json["unread_messages"] == 0


@pytest.mark.parametrize(
    ("change", "field", "messages"),
    [
        (
            {"recipient_person_ids": None},
            "recipient_person_ids",
            ("Fältet får inte vara null.", "Field may not be null."),
        ),
        (
            {"body": "Hej\u0000"},
            "body",
            ("Får inte innehålla NUL-tecknet (U+0000).", "Must not contain the NUL character (U+0000)."),
        ),
        (
            {"recipient_person_ids": ["someone-else"]},
            "recipient_person_ids.0",
            (
                "recipient_person_ids.0 är inte någon du får skriva till om det här barnet på den här skolenheten.",
                "recipient_person_ids.0 is not someone you may write to about this child at this school unit.",
            ),
        ),
    ],
)
def test_invalid_conversation_names_field(talk, signer, change, field, messages):
    client, school = talk
    opening = {
        "child_person_id": school.child_id,
        "unit_id": school.unit_id,
        "subject": "Fråga",
        "body": "Hej!",
        "recipient_person_ids": [school.teacher_id],
        **change,
    }
    for language, message in zip((SWEDISH, ENGLISH), messages):
        response = client.post("/messaging/conversations", json=opening, headers=signer.bearer(school.karin.person_id, "guardian", language))

        assert response.status_code == 422, response.json
        assert response.json["error"]["fields"] == {field: [message]}
    assert client.get("/messaging/conversations", headers=signer.bearer(school.karin.person_id, "guardian")).json["conversations"] == []


def test_conversation_hidden_from_outsiders(talk, signer):
    client, school = talk
    started = client.post(
        "/messaging/conversations",
        json={
            "child_person_id": school.child_id,
            "unit_id": school.unit_id,
            "subject": "Fråga",
            "body": "Hej!",
            "recipient_person_ids": [school.karin.person_id],
        },
        headers=signer.bearer(school.teacher_id, "staff"),
    )
    assert started.status_code == 201, started.json

    for outsider in (signer.bearer(school.erik.person_id, "guardian"), signer.bearer(school.teacher_elsewhere_id, "staff")):
        for conversation_id in (started.json["conversation_id"], str(uuid.uuid4()), "not-an-id"):
            response = client.get(f"/messaging/conversations/{conversation_id}", headers=outsider)
            assert response.status_code == 404
            assert response.json["error"]["code"] == "conversation_not_found"
        contacts = client.get(f"/messaging/children/{school.child_id}/conversation-contacts", headers=outsider)
        assert contacts.status_code == 404
        assert contacts.json["error"]["code"] == "child_not_found"


def test_feedback_to_the_principal_and_the_answer(talk, signer):
    client, school = talk
    karin = signer.bearer(school.karin.person_id, "guardian")

    sent = client.post(
        f"/messaging/units/{school.unit_id}/feedback",
        json={"kind": "suggestion", "subject": "Frukt", "body": "Kan barnen få frukt på eftermiddagen?"},
        headers=karin,
    )
    assert sent.status_code == 201, sent.json

    refused = client.get(f"/messaging/units/{school.unit_id}/feedback", headers=signer.bearer(school.teacher_id, "staff"))
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == f"Bara rektorn och ledningen för skolenheten {school.unit_id} får göra detta."

    principal = signer.bearer(school.principal_id, "staff")
    [listed] = client.get(f"/messaging/units/{school.unit_id}/feedback?state=received", headers=principal).json
    assert listed["author"]["name"] == "Karin Lind"
    answer = client.post(f"/messaging/feedback/{listed['feedback_id']}/answers", json={"body": "Ja, från måndag."}, headers=principal)
    assert answer.status_code == 201, answer.json

    [mine] = client.get("/messaging/feedback", headers=karin).json
    assert mine["state"] == "answered"
    assert [item["body"] for item in mine["answers"]] == ["Ja, från måndag."]

    elsewhere = client.post(
        f"/messaging/units/{school.unit_id}/feedback",
        json={"kind": "complaint", "subject": "Buller", "body": "Det är för högljutt."},
        headers=signer.bearer(school.erik.person_id, "guardian", ENGLISH),
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json["error"]["code"] == "not_member_of_unit"
    loose_boolean = client.post(
        f"/messaging/units/{school.unit_id}/feedback",
        json={"kind": "other", "subject": "Tack", "body": "Tack!", "anonymous": "yes"},
        headers=karin,
    )
    assert loose_boolean.status_code == 422
    assert list(loose_boolean.json["error"]["fields"]) == ["anonymous"]
    bad_kind = client.post(
        f"/messaging/units/{school.unit_id}/feedback", json={"kind": "praise", "subject": "Tack", "body": "Tack!"}, headers=karin
    )
    assert bad_kind.status_code == 422
    assert list(bad_kind.json["error"]["fields"]) == ["kind"]


def test_conversation_and_feedback_endpoints_need_login(school):
    client, built = school
    made_up = uuid.uuid4()
    responses = {
        "contacts": client.get(f"/messaging/children/{made_up}/conversation-contacts"),
        "start": client.post(
            "/messaging/conversations",
            json={"child_person_id": "c", "unit_id": "u", "subject": "s", "body": "b", "recipient_person_ids": ["r"]},
        ),
        "list": client.get("/messaging/conversations"),
        "get": client.get(f"/messaging/conversations/{made_up}"),
        "reply": client.post(f"/messaging/conversations/{made_up}/messages", json={"body": "b"}),
        "read": client.post(f"/messaging/conversations/{made_up}/read"),
        "send feedback": client.post("/messaging/units/u/feedback", json={"kind": "other", "subject": "s", "body": "b"}),
        "unit feedback": client.get("/messaging/units/u/feedback"),
        "my feedback": client.get("/messaging/feedback"),
        "answer": client.post(f"/messaging/feedback/{made_up}/answers", json={"body": "b"}),
    }
    for name, response in responses.items():
        assert response.status_code == 401, name
        assert response.json["error"]["code"] == "login_required", name
