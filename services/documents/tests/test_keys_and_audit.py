"""Key rotation, wrong and missing keys, and the access log chain under concurrent requests."""

import eventlet
import pytest
from documents_support import CHILD, GUARDIAN, TEACHER_A, b64, error_of, iup_body, png_bytes
from nameko.standalone.rpc import ServiceRpcProxy

from torget_documents.audit import verify_chain
from torget_documents.crypto import new_key_line
from torget_documents.rotation import rows_per_key
from torget_shared.db import make_engine


def write_samples(documents) -> tuple[dict, dict, dict]:
    teacher = documents.as_(TEACHER_A)
    iup = teacher.create_document("iup", "2026-11-20", iup_body(), child_person_id=CHILD)
    teacher.finalize_iup(iup["id"], 1)
    entry = teacher.create_document("logbook", "2026-11-20", {"text": "Vi målade"}, child_person_id=CHILD)
    image = teacher.add_attachment(entry["id"], b64(png_bytes()), "image/png")
    return iup, entry, image


def key_counts(documents) -> dict[str, int]:
    engine = make_engine(documents.database_url)
    try:
        return rows_per_key(engine)
    finally:
        engine.dispose()


def chain_report(documents):
    engine = make_engine(documents.database_url)
    try:
        with engine.connect() as connection:
            return verify_chain(connection)
    finally:
        engine.dispose()


def wait_until(predicate, timeout: float = 10.0):
    deadline = eventlet.hubs.get_hub().clock() + timeout
    while not predicate():
        if eventlet.hubs.get_hub().clock() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        eventlet.sleep(0.1)


def test_rotation_reencrypts_while_reads_work(documents):
    iup, entry, image = write_samples(documents)
    assert key_counts(documents) == {"k1": 3}

    old_key = documents.config["DOCUMENTS_KEYS"]
    documents.restart(DOCUMENTS_KEYS=f"{old_key},{new_key_line('k2')}", DOCUMENTS_ACTIVE_KEY="k2")

    guardian = documents.as_(GUARDIAN)
    assert guardian.get_document(iup["id"])["body"] == iup_body()
    wait_until(lambda: key_counts(documents) == {"k2": 3})

    assert guardian.get_document(iup["id"])["body"] == iup_body()
    assert guardian.get_attachment(entry["id"], image["id"])["data_base64"] == b64(png_bytes())
    assert sorted(path.name.split(".")[1] for path in documents.file_store.iterdir()) == ["k2"]
    state = documents.rows("SELECT state, finalized_at FROM document_versions WHERE document_id = :id", id=iup["id"])
    assert state[0]["state"] == "finalized"


def test_wrong_key_gives_clear_error(documents):
    iup, _, _ = write_samples(documents)
    documents.restart(DOCUMENTS_KEYS=new_key_line("k1"))

    with pytest.raises(Exception) as wrong:
        documents.as_(TEACHER_A).get_document(iup["id"])
    error = error_of(wrong)
    assert error["code"] == "decryption_failed"
    assert "key 'k1'" in error["message"]
    failed = documents.rows("SELECT action, decision, reason FROM access_log WHERE decision = 'failed'")
    assert failed == [{"action": "read", "decision": "failed", "reason": "decryption_failed"}]


def test_missing_key_gives_clear_error(documents):
    iup, _, _ = write_samples(documents)
    documents.restart(DOCUMENTS_KEYS=new_key_line("k9"), DOCUMENTS_ACTIVE_KEY="k9")

    with pytest.raises(Exception) as missing:
        documents.as_(GUARDIAN).get_document(iup["id"])
    error = error_of(missing)
    assert error["code"] == "encryption_key_unavailable"
    assert "'k1' is not in the keyring" in error["message"]

    documents.restart(DOCUMENTS_KEYS="", DOCUMENTS_ACTIVE_KEY="")
    with pytest.raises(Exception) as unconfigured:
        documents.as_(TEACHER_A).create_document("logbook", "2026-11-20", {"text": "Hej"}, child_person_id=CHILD)
    assert error_of(unconfigured)["code"] == "encryption_key_unavailable"


def test_concurrent_requests_keep_chain_intact(documents, rabbit_config):
    iup = documents.as_(TEACHER_A).create_document("iup", "2026-11-20", iup_body(), child_person_id=CHILD)
    context = {"caller": TEACHER_A.to_context(), "calling_service": "gateway"}
    proxies = [
        ServiceRpcProxy("documents", {"AMQP_URI": rabbit_config["AMQP_URI"]}, context_data=context, timeout=15)
        for _ in range(6)
    ]
    started = [proxy.start() for proxy in proxies]
    try:
        pool = eventlet.GreenPool(len(started))
        for _ in pool.imap(lambda proxy: [proxy.get_document(iup["id"]) for _ in range(5)], started):
            pass
    finally:
        for proxy in proxies:
            proxy.stop()

    report = chain_report(documents)
    assert report.intact, report.problem
    assert report.entries == 31


def test_chain_check_names_removed_entry(documents):
    write_samples(documents)
    documents.execute("DELETE FROM access_log WHERE seq = 2")

    report = chain_report(documents)
    assert report.first_broken_seq == 2
    assert "entry 2 is missing" in report.problem
