"""The nameko entrypoints of the documents service.

Each RPC method builds the request context from the verified caller, runs one
service-layer function in a transaction and returns plain data. When the
function refuses or fails, the transaction is rolled back and the attempt is
appended to the access log in a transaction of its own.
"""

import base64
import binascii
import logging

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc

from torget_documents import attachments, audit, documents, history
from torget_documents.context import RequestContext
from torget_documents.directory import DIRECTORY_SERVICE, DirectoryView
from torget_documents.errors import (
    DecryptionFailed,
    DirectoryUnavailable,
    DocumentsError,
    EncryptionKeyUnavailable,
    InvalidDocument,
)
from torget_documents.filestore import FileStore
from torget_documents.rotation import RotationLoop
from torget_documents.settings import DocumentsSettings
from torget_shared.contracts import documents as document_contracts  # noqa: F401 (registers document_published)
from torget_shared.db import make_engine
from torget_shared.service import ServiceBase

log = logging.getLogger(__name__)

# Failures of the service's own machinery, logged as "failed" rather than "refused".
SYSTEM_FAILURES = (DirectoryUnavailable, EncryptionKeyUnavailable, DecryptionFailed)


class DocumentsRuntime(DependencyProvider):
    """The service's settings, keyring and file store, and the background key rotation."""

    def setup(self) -> None:
        self.settings = DocumentsSettings.from_mapping(self.container.config)
        # A malformed keyring stops the service here, with the reason; a missing one does not.
        self.keyring = self.settings.keyring()
        self.file_store = FileStore(self.settings.file_store)
        self.rotation = None
        if self.keyring is None:
            log.warning("no encryption key is configured: document requests will fail until DOCUMENTS_KEYS is set")

    def start(self) -> None:
        if self.keyring is None:
            return
        self.engine = make_engine(self.settings.database_url, green=True)
        self.rotation = RotationLoop(self.engine, self.keyring, self.file_store, self.settings.rotation_interval)
        self.container.spawn_managed_thread(self.rotation.run, identifier="key_rotation")

    def stop(self) -> None:
        if self.rotation is not None:
            self.rotation.stop()
            self.engine.dispose()
            self.rotation = None

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx) -> "DocumentsRuntime":
        return self


def _decode_base64(data) -> bytes:
    try:
        return base64.b64decode(data or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidDocument("the attachment data must be base64", fields={"file": ["Not valid base64."]}) from None


class DocumentsService(ServiceBase):
    name = "documents"

    runtime = DocumentsRuntime()
    directory_rpc = RpcProxy(DIRECTORY_SERVICE)

    def _context(self) -> RequestContext:
        return RequestContext(
            caller=self.caller,
            directory=DirectoryView(self.directory_rpc, self.runtime.settings.directory_timeout),
            keyring=self.runtime.keyring,
            file_store=self.runtime.file_store,
            max_attachment_bytes=self.runtime.settings.max_attachment_bytes,
        )

    def _run(self, operation, *args, **kwargs):
        ctx = self._context()
        try:
            with self.db.transaction() as session:
                return operation(session, ctx, *args, **kwargs)
        except DocumentsError as exc:
            outcome = audit.FAILED if isinstance(exc, SYSTEM_FAILURES) else audit.REFUSED
            self._log_attempt(ctx, outcome, exc.code)
            raise
        except Exception:
            self._log_attempt(ctx, audit.FAILED, "internal_error")
            raise

    def _log_attempt(self, ctx: RequestContext, outcome: str, reason: str) -> None:
        try:
            with self.db.transaction() as session:
                audit.append(session, ctx.failure_entry(outcome, reason))
        except Exception:
            log.exception("could not log a %s %s attempt in the access log", outcome, ctx.action)

    @rpc(expected_exceptions=DocumentsError)
    def create_document(self, kind, document_date, body, child_person_id=None, group_id=None) -> dict:
        return self._run(
            documents.create_document,
            self.events,
            kind,
            document_date,
            body,
            child_person_id=child_person_id,
            group_id=group_id,
        )

    @rpc(expected_exceptions=DocumentsError)
    def get_document(self, document_id, child_person_id=None, version=None) -> dict:
        return self._run(documents.get_document, document_id, via_child_person_id=child_person_id, version=version)

    @rpc(expected_exceptions=DocumentsError)
    def list_documents(self, child_person_id, kind=None) -> list[dict]:
        return self._run(documents.list_documents, child_person_id, kind=kind)

    @rpc(expected_exceptions=DocumentsError)
    def update_document(self, document_id, body, base_version=None, document_date=None) -> dict:
        return self._run(
            documents.update_document, document_id, body, base_version=base_version, document_date=document_date
        )

    @rpc(expected_exceptions=DocumentsError)
    def finalize_iup(self, document_id, version) -> dict:
        return self._run(documents.finalize_iup, self.events, document_id, version)

    @rpc(expected_exceptions=DocumentsError)
    def add_attachment(self, document_id, data_base64, content_type=None) -> dict:
        def add(session, ctx):
            ctx.begin("add_attachment", document_id=document_id)
            data = _decode_base64(data_base64)
            return attachments.add_attachment(session, ctx, document_id, data, content_type)

        return self._run(add)

    @rpc(expected_exceptions=DocumentsError)
    def get_attachment(self, document_id, attachment_id, child_person_id=None) -> dict:
        result = self._run(attachments.get_attachment, document_id, attachment_id, via_child_person_id=child_person_id)
        result["data_base64"] = base64.b64encode(result.pop("data")).decode()
        return result

    @rpc(expected_exceptions=DocumentsError)
    def child_access_log(self, child_person_id) -> list[dict]:
        return self._run(history.child_access_history, child_person_id)
