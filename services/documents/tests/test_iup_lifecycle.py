"""The whole story of an IUP against real RabbitMQ and PostgreSQL: write, finalize, read, move, audit."""

import pytest
from documents_support import (
    CHILD,
    GROUP_B1,
    GUARDIAN,
    GUARDIAN_PASSWORD,
    TEACHER_A,
    TEACHER_B,
    UNIT_B,
    error_of,
    iup_body,
)

from torget_documents.audit import main as audit_check


def test_iup_follows_child_and_is_audited(documents, directory, capsys):
    teacher_a = documents.as_(TEACHER_A)
    draft = teacher_a.create_document("iup", "2026-11-20", iup_body(), child_person_id=CHILD)
    assert draft["state"] == "draft"
    assert draft["version"] == 1

    with pytest.raises(Exception) as draft_read:
        documents.as_(GUARDIAN).get_document(draft["id"])
    assert error_of(draft_read)["code"] == "not_found"

    finalized = teacher_a.finalize_iup(draft["id"], 1)
    assert finalized["state"] == "finalized"

    read = documents.as_(GUARDIAN).get_document(draft["id"])
    assert read["body"] == iup_body()
    assert read["state"] == "finalized"

    with pytest.raises(Exception) as password_read:
        documents.as_(GUARDIAN_PASSWORD).get_document(draft["id"])
    refused = error_of(password_read)
    assert refused["exc_type"] == "BankIdRequired"
    assert "BankID" in refused["message"]

    directory.place(CHILD, UNIT_B, [GROUP_B1])
    with pytest.raises(Exception) as old_unit_read:
        teacher_a.get_document(draft["id"])
    assert error_of(old_unit_read)["code"] == "not_found"
    assert documents.as_(TEACHER_B).get_document(draft["id"])["body"] == iup_body()

    history = documents.as_(GUARDIAN).child_access_log(CHILD)
    readers = {(entry["actor_name"], entry["duty_role"], entry["action"]) for entry in history}
    assert ("Anna Lärare", "Förskollärare", "create") in readers
    assert ("Anna Lärare", "Förskollärare", "finalize") in readers
    assert ("Bertil Lärare", "Lärare", "read") in readers
    assert all(entry["actor_role"] in ("staff", "principal") for entry in history)

    decisions = documents.rows("SELECT action, actor_role, decision, reason FROM access_log ORDER BY seq")
    assert {"action": "read", "actor_role": "guardian", "decision": "refused", "reason": "bankid_required"} in decisions
    assert {"action": "read", "actor_role": "none", "decision": "refused", "reason": "not_found"} in decisions

    assert audit_check(["--database-url", documents.database_url]) == 0
    assert "access log intact" in capsys.readouterr().out

    documents.execute("UPDATE access_log SET actor_name = 'Någon annan' WHERE seq = 3")
    assert audit_check(["--database-url", documents.database_url]) == 1
    assert "broken at entry 3" in capsys.readouterr().err


def test_tables_hold_no_plain_text(documents):
    teacher_a = documents.as_(TEACHER_A)
    secret = "Hemligt mål om läsförståelse"
    document = teacher_a.create_document("iup", "2026-11-20", iup_body(secret), child_person_id=CHILD)
    teacher_a.create_document(
        "development_talk",
        "2026-11-21",
        {"participants": ["Anna Lärare", "Vårdnadshavare"], "notes": "Samtal om trygghet", "agreed_actions": ["Mer läsning"]},
        child_person_id=CHILD,
    )

    raw = documents.rows("SELECT body FROM document_versions")
    assert len(raw) == 2
    for row in raw:
        stored = bytes(row["body"])
        for plain in (secret, "Samtal om trygghet", "Svenska", "Mer läsning"):
            assert plain.encode() not in stored
            assert plain.encode("utf-16-le") not in stored

    dump = " ".join(str(value) for table in ("documents", "document_versions", "access_log")
                    for row in documents.rows(f"SELECT * FROM {table}") for value in row.values())
    assert secret not in dump
    assert "trygghet" not in dump
    assert documents.as_(TEACHER_A).get_document(document["id"])["body"]["subjects"][0]["goals"] == secret
