"""Errors the documents service returns to its callers.

nameko passes an error to the RPC caller as its class name and ``str(exc)``.
``str()`` of these errors is a JSON object with a stable ``code``, an English
``message`` and the ``params`` a client needs to word its own message (the
gateway translates by code), so no caller has to parse prose.
"""

import json


class DocumentsError(Exception):
    """Base of the errors a caller of the documents service can act on."""

    code = "documents_error"

    def __init__(self, message: str, **params):
        super().__init__(message)
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return json.dumps({"code": self.code, "message": self.message, "params": self.params}, default=str)


class DocumentNotFound(DocumentsError):
    """The document or child does not exist, or the caller may not see it: callers cannot tell which."""

    code = "not_found"


class BankIdRequired(DocumentsError):
    """The caller would have access, but the session did not log in with BankID."""

    code = "bankid_required"


class WriteNotAllowed(DocumentsError):
    """The caller may read the document but not write it, e.g. a principal."""

    code = "write_not_allowed"


class FeatureDisabled(DocumentsError):
    """The child's unit has this kind of document turned off."""

    code = "feature_disabled"


class InvalidDocument(DocumentsError):
    """The document data is invalid; ``params["fields"]`` maps field names to messages."""

    code = "invalid_document"


class VersionFinalized(DocumentsError):
    """The IUP version is finalized and can no longer change."""

    code = "version_finalized"


class VersionConflict(DocumentsError):
    """The edit was based on an older version than the latest one."""

    code = "version_conflict"


class AttachmentTooLarge(DocumentsError):
    code = "attachment_too_large"


class AttachmentTypeNotAllowed(DocumentsError):
    code = "attachment_type_not_allowed"


class EncryptionKeyUnavailable(DocumentsError):
    """No keyring is configured, or it lacks the key a row was encrypted with."""

    code = "encryption_key_unavailable"


class DecryptionFailed(DocumentsError):
    """The key does not match the ciphertext, or the ciphertext or its row was changed."""

    code = "decryption_failed"


class DirectoryUnavailable(DocumentsError):
    """The school directory did not answer, so access cannot be decided."""

    code = "directory_unavailable"
