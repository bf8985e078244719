"""Bad input and attacks against the documents service: each is refused, clearly, and logged."""

import uuid

import pytest
from documents_support import (
    ASSISTANT_A,
    CHILD,
    GROUP_A1,
    GROUP_B1,
    GUARDIAN,
    GUARDIAN_PASSWORD,
    NO_CUSTODY_GUARDIAN,
    NURSE_A,
    OTHER_CHILD,
    OTHER_GUARDIAN,
    PRINCIPAL_A,
    PUPIL,
    TEACHER_A,
    TEACHER_B,
    UNIT_A,
    UNIT_B,
    b64,
    error_of,
    iup_body,
    png_bytes,
)


def finalized_iup(documents, child=CHILD) -> dict:
    teacher = documents.as_(TEACHER_A)
    document = teacher.create_document("iup", "2026-11-20", iup_body(), child_person_id=child)
    return teacher.finalize_iup(document["id"], 1)


def refused_entries(documents) -> list[dict]:
    return documents.rows(
        "SELECT action, actor_person_id, actor_role, document_id, reason FROM access_log "
        "WHERE decision <> 'granted' ORDER BY seq"
    )


def test_guessed_ids_look_like_missing(documents):
    other_family = finalized_iup(documents, child=OTHER_CHILD)
    guardian = documents.as_(GUARDIAN)

    with pytest.raises(Exception) as existing:
        guardian.get_document(other_family["id"])
    missing_id = str(uuid.uuid4())
    with pytest.raises(Exception) as missing:
        guardian.get_document(missing_id)

    existing_error, missing_error = error_of(existing), error_of(missing)
    assert existing_error["exc_type"] == missing_error["exc_type"] == "DocumentNotFound"
    assert existing_error["message"].replace(other_family["id"], "ID") == missing_error["message"].replace(missing_id, "ID")

    with pytest.raises(Exception) as listing:
        guardian.list_documents(OTHER_CHILD)
    assert error_of(listing)["code"] == "not_found"
    with pytest.raises(Exception) as history:
        guardian.child_access_log(OTHER_CHILD)
    assert error_of(history)["code"] == "not_found"

    refusals = refused_entries(documents)
    assert {"action": "read", "actor_person_id": GUARDIAN.person_id, "actor_role": "none",
            "document_id": other_family["id"], "reason": "not_found"} in refusals
    assert {"action": "read", "actor_person_id": GUARDIAN.person_id, "actor_role": "none",
            "document_id": missing_id, "reason": "not_found"} in refusals
    assert len(refusals) == 4


def test_password_guardian_gets_bankid_answer(documents):
    document = finalized_iup(documents)
    guardian = documents.as_(GUARDIAN_PASSWORD)

    for call in (
        lambda: guardian.get_document(document["id"]),
        lambda: guardian.list_documents(CHILD),
        lambda: guardian.child_access_log(CHILD),
    ):
        with pytest.raises(Exception) as refused:
            call()
        assert error_of(refused)["code"] == "bankid_required"

    # Someone else's child stays "not found" even in a password session.
    other = finalized_iup(documents, child=OTHER_CHILD)
    with pytest.raises(Exception) as other_family:
        guardian.get_document(other["id"])
    assert error_of(other_family)["code"] == "not_found"

    reasons = [entry["reason"] for entry in refused_entries(documents)]
    assert reasons == ["bankid_required", "bankid_required", "bankid_required", "not_found"]


def test_staff_without_duty_for_child_refused(documents, directory):
    document = finalized_iup(documents)

    for caller in (TEACHER_B, NURSE_A, NO_CUSTODY_GUARDIAN):
        with pytest.raises(Exception) as refused:
            documents.as_(caller).get_document(document["id"])
        assert error_of(refused)["code"] == "not_found", caller.person_id
        with pytest.raises(Exception) as write:
            documents.as_(caller).update_document(document["id"], iup_body("Ändrat"))
        assert error_of(write)["code"] == "not_found", caller.person_id

    # Staff of the unit the child left lose access; the new unit's staff gain it.
    directory.place(CHILD, UNIT_B, [GROUP_B1])
    with pytest.raises(Exception) as left:
        documents.as_(ASSISTANT_A).list_documents(CHILD)
    assert error_of(left)["code"] == "not_found"
    assert [row["id"] for row in documents.as_(TEACHER_B).list_documents(CHILD)] == [document["id"]]


def test_principal_reads_but_cannot_write(documents):
    document = finalized_iup(documents)
    principal = documents.as_(PRINCIPAL_A)

    assert principal.get_document(document["id"])["body"] == iup_body()
    with pytest.raises(Exception) as write:
        principal.update_document(document["id"], iup_body("Rektorns ändring"))
    assert error_of(write)["code"] == "write_not_allowed"
    with pytest.raises(Exception) as create:
        principal.create_document("logbook", "2026-11-20", {"text": "Hej"}, child_person_id=CHILD)
    assert error_of(create)["code"] == "write_not_allowed"


def test_finalized_version_never_changes(documents):
    document = finalized_iup(documents)
    teacher = documents.as_(TEACHER_A)
    before = documents.rows("SELECT * FROM document_versions WHERE version = 1")

    edited = teacher.update_document(document["id"], iup_body("Nytt mål"), base_version=1)
    assert edited["version"] == 2
    assert edited["state"] == "draft"
    assert documents.rows("SELECT * FROM document_versions WHERE version = 1") == before

    with pytest.raises(Exception) as refinalize:
        teacher.finalize_iup(document["id"], 1)
    assert error_of(refinalize)["code"] == "version_finalized"
    with pytest.raises(Exception) as stale:
        teacher.update_document(document["id"], iup_body("Från gammal version"), base_version=1)
    assert error_of(stale)["code"] == "version_conflict"
    with pytest.raises(Exception) as assistant:
        documents.as_(ASSISTANT_A).finalize_iup(document["id"], 2)
    assert error_of(assistant)["code"] == "write_not_allowed"

    # The guardian still reads the finalized version, not the draft.
    read = documents.as_(GUARDIAN).get_document(document["id"])
    assert read["version"] == 1
    assert read["body"] == iup_body()
    assert [version["version"] for version in read["versions"]] == [1]
    assert teacher.get_document(document["id"], version=1)["body"] == iup_body()

    reasons = [entry["reason"] for entry in refused_entries(documents)]
    assert reasons == ["version_finalized", "version_conflict", "write_not_allowed"]


def test_attachments_checked_and_encrypted(documents):
    teacher = documents.as_(TEACHER_A)
    entry = teacher.create_document("logbook", "2026-11-20", {"text": "Vi byggde en koja"}, child_person_id=CHILD)
    image = png_bytes()

    stored = teacher.add_attachment(entry["id"], b64(image), "image/png")
    assert stored["content_type"] == "image/png"
    files = list(documents.file_store.iterdir())
    assert len(files) == 1
    assert image not in files[0].read_bytes()

    read = documents.as_(GUARDIAN).get_attachment(entry["id"], stored["id"])
    assert read["content_type"] == "image/png"
    assert read["data_base64"] == b64(image)

    with pytest.raises(Exception) as too_large:
        teacher.add_attachment(entry["id"], b64(png_bytes(extra=5 * 1024 * 1024)), "image/png")
    assert error_of(too_large)["code"] == "attachment_too_large"
    assert error_of(too_large)["params"]["max_bytes"] == 5 * 1024 * 1024
    with pytest.raises(Exception) as gif:
        teacher.add_attachment(entry["id"], b64(b"GIF89a" + b"\0" * 40), "image/gif")
    assert error_of(gif)["code"] == "attachment_type_not_allowed"
    with pytest.raises(Exception) as disguised:
        teacher.add_attachment(entry["id"], b64(b"<script>alert(1)</script>"), "image/png")
    assert error_of(disguised)["code"] == "attachment_type_not_allowed"
    with pytest.raises(Exception) as mislabelled:
        teacher.add_attachment(entry["id"], b64(image), "image/jpeg")
    assert error_of(mislabelled)["code"] == "attachment_type_not_allowed"
    with pytest.raises(Exception) as by_guardian:
        documents.as_(GUARDIAN).add_attachment(entry["id"], b64(image), "image/png")
    assert error_of(by_guardian)["code"] == "not_found"

    assert len(list(documents.file_store.iterdir())) == 1
    reasons = [entry["reason"] for entry in refused_entries(documents)]
    assert reasons == ["attachment_too_large"] + ["attachment_type_not_allowed"] * 3 + ["not_found"]


def test_feature_switches_and_pupils(documents, directory):
    teacher = documents.as_(TEACHER_A)
    iup = finalized_iup(documents)
    talk = teacher.create_document(
        "development_talk", "2026-11-21", {"participants": ["Anna"], "notes": "Bra samtal"}, child_person_id=CHILD
    )

    with pytest.raises(Exception) as pupil_off:
        documents.as_(PUPIL).list_documents(CHILD)
    assert error_of(pupil_off)["code"] == "not_found"

    directory.set_features(UNIT_A, iup=False, pupil_documents=True)
    assert [row["id"] for row in documents.as_(PUPIL).list_documents(CHILD)] == [talk["id"]]
    assert [row["kind"] for row in documents.as_(GUARDIAN).list_documents(CHILD)] == ["development_talk"]
    with pytest.raises(Exception) as hidden:
        documents.as_(GUARDIAN).get_document(iup["id"])
    assert error_of(hidden)["code"] == "not_found"
    with pytest.raises(Exception) as disabled:
        teacher.create_document("iup", "2026-11-22", iup_body(), child_person_id=CHILD)
    assert error_of(disabled)["code"] == "feature_disabled"


def test_group_entry_reaches_group_families_only(documents):
    teacher = documents.as_(TEACHER_A)
    entry = teacher.create_document("logbook", "2026-11-20", {"text": "Utflykt till skogen"}, group_id=GROUP_A1)
    assert entry["unit_id"] == UNIT_A

    listed = documents.as_(GUARDIAN).list_documents(CHILD)
    assert [row["id"] for row in listed] == [entry["id"]]
    assert documents.as_(GUARDIAN).get_document(entry["id"], child_person_id=CHILD)["body"]["text"] == "Utflykt till skogen"

    assert documents.as_(OTHER_GUARDIAN).list_documents(OTHER_CHILD) == []
    with pytest.raises(Exception) as other_group:
        documents.as_(OTHER_GUARDIAN).get_document(entry["id"], child_person_id=OTHER_CHILD)
    assert error_of(other_group)["code"] == "not_found"
    with pytest.raises(Exception) as foreign_group:
        documents.as_(TEACHER_B).create_document("logbook", "2026-11-20", {"text": "Hej"}, group_id=GROUP_A1)
    assert error_of(foreign_group)["code"] == "not_found"


def test_invalid_body_lists_fields(documents):
    with pytest.raises(Exception) as invalid:
        documents.as_(TEACHER_A).create_document("iup", "2026-13-01", iup_body(), child_person_id=CHILD)
    assert error_of(invalid)["params"]["fields"] == {"document_date": ["Not a valid date."]}

    with pytest.raises(Exception) as empty:
        documents.as_(TEACHER_A).create_document("iup", "2026-11-20", {"subjects": []}, child_person_id=CHILD)
    assert "body.subjects" in error_of(empty)["params"]["fields"]


def test_directory_down_fails_closed(documents, directory):
    document = finalized_iup(documents)
    directory.down = True

    with pytest.raises(Exception) as unavailable:
        documents.as_(GUARDIAN).get_document(document["id"])
    assert error_of(unavailable)["code"] == "directory_unavailable"
    failed = documents.rows("SELECT decision, reason FROM access_log WHERE decision = 'failed'")
    assert failed == [{"decision": "failed", "reason": "directory_unavailable"}]
