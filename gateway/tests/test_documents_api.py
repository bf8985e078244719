"""The documents endpoints through the gateway, with the documents service and the directory test double.

The gateway does not verify tokens yet, so these tests set the caller of
each request from the X-Test-Person and X-Test-Assurance headers with a
hook added to the test app.
"""

import io
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g, request

from torget_documents.audit import main as audit_check
from torget_documents.crypto import new_key_line
from torget_documents.service import DocumentsService
from torget_shared.caller import ACCOUNT, Caller
from torget_shared.db import make_engine

# The directory test double and sample data live with the documents tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "documents" / "tests"))

import documents_directory_double as directory_double  # noqa: E402
from documents_support import iup_body, png_bytes  # noqa: E402


def set_test_caller() -> None:
    person_id = request.headers.get("X-Test-Person")
    if person_id:
        assurance = request.headers.get("X-Test-Assurance", "bankid")
        g.caller = Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id, assurance=assurance)


def as_person(person_id, assurance="bankid", **headers):
    return {"X-Test-Person": person_id, "X-Test-Assurance": assurance, **headers}


@pytest.fixture
def stack(make_app, start_service, container_factory, rabbit_config, tmp_path):
    """Start the directory double, the documents service and a gateway app; child-1 is in unit A."""
    world = directory_double.state
    world.reset()
    for unit in ("unit-a", "unit-b"):
        world.set_features(unit)
    world.place("child-1", "unit-a", ["group-a1"])
    world.add_guardian("child-1", "guardian-1")
    world.add_duty("teacher-a", "unit-a", "Förskollärare", name="Anna Lärare")
    world.add_duty("teacher-b", "unit-b", "Lärare", name="Bertil Lärare")

    double = container_factory(directory_double.DirectoryDouble, {"AMQP_URI": rabbit_config["AMQP_URI"]})
    double.start()
    service = start_service(
        DocumentsService,
        DOCUMENTS_KEYS=new_key_line("k1"),
        DOCUMENTS_FILE_STORE=str(tmp_path / "files"),
    )
    app = make_app()
    app.before_request(set_test_caller)
    yield app.test_client(), service, world
    double.stop()
    world.reset()


def raw_rows(service, query: str) -> list[dict]:
    engine = make_engine(service.database_url)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.text(query))]
    finally:
        engine.dispose()


def test_iup_through_gateway(stack, capsys):
    client, service, world = stack

    created = client.post("/documents", headers=as_person("teacher-a"), json={
        "kind": "iup", "document_date": "2026-11-20", "child_person_id": "child-1", "body": iup_body(),
    })
    assert created.status_code == 201, created.json
    document_id = created.json["id"]
    finalized = client.post(f"/documents/{document_id}/versions/1/finalize", headers=as_person("teacher-a"))
    assert finalized.status_code == 200, finalized.json
    assert finalized.json["state"] == "finalized"

    read = client.get(f"/documents/{document_id}", headers=as_person("guardian-1"))
    assert read.status_code == 200
    assert read.json["body"] == iup_body()
    assert read.headers["Cache-Control"] == "private, no-store"

    refused = client.get(f"/documents/{document_id}", headers=as_person("guardian-1", "password"))
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "bankid_required"
    assert "Logga in med BankID" in refused.json["error"]["message"]
    in_english = client.get(
        f"/documents/{document_id}", headers=as_person("guardian-1", "password", **{"Accept-Language": "en"})
    )
    assert "Log in with BankID" in in_english.json["error"]["message"]

    world.place("child-1", "unit-b", ["group-b1"])
    assert client.get(f"/documents/{document_id}", headers=as_person("teacher-a")).status_code == 404
    assert client.get(f"/documents/{document_id}", headers=as_person("teacher-b")).status_code == 200

    history = client.get("/documents/children/child-1/access-log", headers=as_person("guardian-1"))
    assert history.status_code == 200
    assert {entry["actor_name"] for entry in history.json} == {"Anna Lärare", "Bertil Lärare"}

    assert audit_check(["--database-url", service.database_url]) == 0
    engine = make_engine(service.database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE access_log SET decision = 'granted' WHERE reason = 'bankid_required'"))
    engine.dispose()
    assert audit_check(["--database-url", service.database_url]) == 1
    assert "access log broken at entry" in capsys.readouterr().err

    for row in raw_rows(service, "SELECT body FROM document_versions"):
        assert "Läsa längre texter".encode() not in bytes(row["body"])


def test_guessed_id_and_bad_uploads(stack):
    client, _, _ = stack
    entry = client.post("/documents", headers=as_person("teacher-a"), json={
        "kind": "logbook", "document_date": "2026-11-20", "child_person_id": "child-1", "body": {"text": "Koja"},
    }).json

    guessed = client.get("/documents/00000000-0000-4000-8000-000000000000", headers=as_person("guardian-1"))
    assert guessed.status_code == 404
    assert guessed.json["error"]["code"] == "not_found"
    other_family = client.get(f"/documents/{entry['id']}", headers=as_person("guardian-2"))
    assert other_family.status_code == 404
    assert other_family.json["error"]["message"] == guessed.json["error"]["message"]

    uploaded = client.post(
        f"/documents/{entry['id']}/attachments", headers=as_person("teacher-a"),
        data={"file": (io.BytesIO(png_bytes()), "bild.png", "image/png")}, content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.json
    image = client.get(f"/documents/{entry['id']}/attachments/{uploaded.json['id']}", headers=as_person("guardian-1"))
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert image.data == png_bytes()

    wrong_type = client.post(
        f"/documents/{entry['id']}/attachments", headers=as_person("teacher-a"),
        data={"file": (io.BytesIO(b"%PDF-1.7 hemligt"), "bild.png", "image/png")}, content_type="multipart/form-data",
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json["error"]["message"] == "Bara JPEG- och PNG-bilder kan bifogas."

    too_large = client.post(
        f"/documents/{entry['id']}/attachments", headers=as_person("teacher-a"),
        data={"file": (io.BytesIO(png_bytes(extra=5 * 1024 * 1024)), "bild.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert too_large.status_code == 413
    assert too_large.json["error"]["code"] in ("attachment_too_large", "payload_too_large")

    invalid = client.post("/documents", headers=as_person("teacher-a"), json={
        "kind": "iup", "document_date": "2026-11-20", "child_person_id": "child-1", "body": {"subjects": []},
    })
    assert invalid.status_code == 422
    assert "body.subjects" in invalid.json["error"]["fields"]


def test_openapi_lists_document_paths(stack):
    client, _, _ = stack
    paths = client.get("/api/openapi.json").json["paths"]

    assert "/documents/{document_id}/versions/{version}/finalize" in paths
    assert "/documents/children/{child_person_id}/access-log" in paths
    assert "multipart/form-data" in paths["/documents/{document_id}/attachments"]["post"]["requestBody"]["content"]
