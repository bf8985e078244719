"""Key rotation: re-encrypt every body and attachment under the active key, in small batches.

To rotate, add a new key to DOCUMENTS_KEYS, make it DOCUMENTS_ACTIVE_KEY and
restart the service: new writes use it at once, and the rotation loop in the
service (or ``torget-documents-rotate-keys``) re-encrypts the older rows.
Each batch is one short transaction that locks only the rows it changes and
skips rows another worker holds, so reads and writes keep working. An old key
can leave the keyring once :func:`rows_per_key` no longer lists it.
"""

import argparse
import logging
import sys
import threading

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from torget_documents.attachments import attachment_context
from torget_documents.crypto import Keyring
from torget_documents.documents import version_context
from torget_documents.filestore import FileStore, stored_name
from torget_documents.models import attachments, document_versions, documents

log = logging.getLogger(__name__)


def rotate_versions(engine: Engine, keyring: Keyring, batch_size: int = 50) -> int:
    """Re-encrypt one batch of version bodies not under the active key; return how many changed."""
    with engine.begin() as connection:
        rows = connection.execute(
            select(document_versions, documents.c.kind, documents.c.child_person_id, documents.c.group_id)
            .join(documents, documents.c.id == document_versions.c.document_id)
            .where(document_versions.c.key_id != keyring.active_key_id)
            .limit(batch_size)
            .with_for_update(of=document_versions, skip_locked=True)
        ).mappings().all()

        for row in rows:
            document = {"id": row["document_id"], "kind": row["kind"], "child_person_id": row["child_person_id"],
                        "group_id": row["group_id"]}
            context = version_context(document, row["version"])
            plaintext = keyring.decrypt(row["key_id"], row["body"], context)
            key_id, sealed = keyring.encrypt(plaintext, context)
            # Only the ciphertext and key id change; the version keeps its state and times.
            connection.execute(
                update(document_versions)
                .where(
                    document_versions.c.document_id == row["document_id"],
                    document_versions.c.version == row["version"],
                    document_versions.c.key_id == row["key_id"],
                )
                .values(key_id=key_id, body=sealed)
            )
    return len(rows)


def rotate_attachments(engine: Engine, keyring: Keyring, file_store: FileStore, batch_size: int = 20) -> int:
    """Re-encrypt one batch of attachment files not under the active key; return how many changed."""
    replaced = []
    with engine.begin() as connection:
        rows = connection.execute(
            select(attachments)
            .where(attachments.c.key_id != keyring.active_key_id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).mappings().all()

        for row in rows:
            context = attachment_context(dict(row))
            plaintext = keyring.decrypt(row["key_id"], file_store.read(stored_name(row["id"], row["key_id"])), context)
            key_id, sealed = keyring.encrypt(plaintext, context)
            # The new file is complete before the row names it; the old one goes after the commit.
            file_store.write(stored_name(row["id"], key_id), sealed)
            connection.execute(update(attachments).where(attachments.c.id == row["id"]).values(key_id=key_id))
            replaced.append(stored_name(row["id"], row["key_id"]))

    for name in replaced:
        file_store.delete(name)
    return len(rows)


def rotate_all(engine: Engine, keyring: Keyring, file_store: FileStore) -> int:
    """Re-encrypt batches until no row uses an older key; return the number of rows re-encrypted."""
    total = 0
    while True:
        changed = rotate_versions(engine, keyring) + rotate_attachments(engine, keyring, file_store)
        total += changed
        if changed == 0:
            return total


def rows_per_key(engine: Engine) -> dict[str, int]:
    """Return how many bodies and attachments each key id still encrypts."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in (document_versions, attachments):
            for key_id, count in connection.execute(select(table.c.key_id, func.count()).group_by(table.c.key_id)):
                counts[key_id] = counts.get(key_id, 0) + count
    return counts


class RotationLoop:
    """Re-encrypts rows under older keys in the background of the service, every ``interval`` seconds."""

    def __init__(self, engine: Engine, keyring: Keyring, file_store: FileStore, interval: float):
        self.engine = engine
        self.keyring = keyring
        self.file_store = file_store
        self.interval = interval
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        log.info("key rotation loop started, active key %s", self.keyring.active_key_id)
        while not self._stopped.is_set():
            try:
                changed = rotate_all(self.engine, self.keyring, self.file_store)
                if changed:
                    log.info("re-encrypted %d rows under key %s", changed, self.keyring.active_key_id)
            except Exception:
                # A missing old key or an unreadable file stops this pass only; the next pass retries.
                log.exception("key rotation pass failed")
            self._stopped.wait(self.interval)
        log.info("key rotation loop stopped")


def main(argv=None) -> int:
    """Re-encrypt everything under the active key (``torget-documents-rotate-keys``)."""
    from torget_documents.settings import DocumentsSettings
    from torget_shared.db import make_engine

    parser = argparse.ArgumentParser(description="Re-encrypt document bodies and attachments under the active key.")
    parser.add_argument("--database-url", help="the documents database (default: from the environment)")
    args = parser.parse_args(argv)

    settings = DocumentsSettings.from_mapping({})
    keyring = settings.keyring()
    if keyring is None:
        print("no encryption key is configured: set DOCUMENTS_KEYS and DOCUMENTS_ACTIVE_KEY", file=sys.stderr)
        return 2

    engine = make_engine(args.database_url or settings.database_url)
    try:
        changed = rotate_all(engine, keyring, FileStore(settings.file_store))
        print(f"re-encrypted {changed} rows under key {keyring.active_key_id}")
        for key_id, count in sorted(rows_per_key(engine).items()):
            print(f"key {key_id}: {count} rows")
    finally:
        engine.dispose()
    return 0
