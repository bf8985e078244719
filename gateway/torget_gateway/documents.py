"""HTTP endpoints of the documents service: logbook entries, development-talk records, IUPs and their access log.

The documents service checks the caller on every object. Its errors arrive
as a nameko RemoteError whose value is JSON with a stable ``code`` and the
``params`` to word the message. This module turns them into the gateway's
error format, translated into the request's language.
"""

import base64
import json

import marshmallow as ma
from flask import Response
from flask_babel import format_number, gettext
from nameko.exceptions import RemoteError

from torget_gateway.api import Blueprint
from torget_gateway.errors import ApiError, internal_error
from torget_gateway.services import call_service
from torget_gateway.validation import summarize, translate_message

SERVICE = "documents"

blueprint = Blueprint(
    "documents",
    __name__,
    url_prefix="/documents",
    description="Preschool logbook entries, development-talk records and IUPs, with who has read them",
)

# The error classes of torget_documents.errors, by the name nameko reports.
DOCUMENT_ERRORS = {
    "DocumentNotFound": 404,
    "BankIdRequired": 403,
    "WriteNotAllowed": 403,
    "FeatureDisabled": 403,
    "InvalidDocument": 422,
    "VersionFinalized": 409,
    "VersionConflict": 409,
    "AttachmentTooLarge": 413,
    "AttachmentTypeNotAllowed": 415,
    "EncryptionKeyUnavailable": 503,
    "DecryptionFailed": 500,
    "DirectoryUnavailable": 503,
}


def _message(code: str, params: dict) -> str:
    if code == "not_found":
        return gettext("The document or child was not found, or you may not see it.")
    if code == "bankid_required":
        return gettext(
            "Documents open only when you have logged in with BankID. Log in with BankID, or ask the school for help."
        )
    if code == "write_not_allowed":
        return gettext("Your duty at the school unit lets you read this document but not change it.")
    if code == "feature_disabled":
        return gettext("The school unit has switched this kind of document off.")
    if code == "version_finalized":
        return gettext("Version %(version)s is finalized and cannot change. Edit the document to start a new version.",
                       version=params.get("version"))
    if code == "version_conflict":
        return gettext(
            "The document has changed: the latest version is %(latest)s. Reload it and make the change again.",
            latest=params.get("latest_version"),
        )
    if code == "attachment_too_large":
        return gettext("The image is too large: at most %(limit)s bytes are allowed.",
                       limit=format_number(params.get("max_bytes", 0)))
    if code == "attachment_type_not_allowed":
        return gettext("Only JPEG and PNG images can be attached.")
    if code in ("encryption_key_unavailable", "decryption_failed"):
        return gettext("The document cannot be decrypted right now. Contact support and quote the request id.")
    if code == "directory_unavailable":
        return gettext("The school directory is not available, so access cannot be checked. Try again later.")
    return gettext("The request contains invalid data.")


def document_error(exc: RemoteError) -> ApiError:
    """Return the ApiError for an error raised by the documents service."""
    try:
        body = json.loads(exc.value)
    except (TypeError, ValueError):
        body = {}
    code, params = body.get("code", "invalid_document"), body.get("params") or {}
    status = DOCUMENT_ERRORS[exc.exc_type]

    if code == "invalid_document" and params.get("fields"):
        fields = {name: [translate_message(text) for text in texts] for name, texts in params["fields"].items()}
        return ApiError(422, "validation_failed", summarize(fields), fields=fields)
    if status == 500:
        error = internal_error()
        error.code = code
        return error
    return ApiError(status, code, _message(code, params))


def call_documents(method: str, *args, **kwargs):
    """Call the documents service; its own errors become error responses, others go to the app's handlers."""
    try:
        return call_service(SERVICE, method, *args, **kwargs)
    except RemoteError as exc:
        if exc.exc_type in DOCUMENT_ERRORS:
            raise document_error(exc) from None
        raise


KINDS = ("logbook", "development_talk", "iup")


class NewDocumentSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    document_date = ma.fields.Date(required=True, metadata={"description": "The date of the entry, talk or plan"})
    child_person_id = ma.fields.String(metadata={"description": "The child; leave out for a group logbook entry"})
    group_id = ma.fields.String(metadata={"description": "The group of a logbook entry about a group"})
    body = ma.fields.Dict(
        required=True,
        metadata={
            "description": "logbook: {text}; development_talk: {participants, notes, agreed_actions}; "
            "iup: {subjects: [{subject, goals, assessment}], summary}"
        },
    )


class DocumentEditSchema(ma.Schema):
    body = ma.fields.Dict(required=True)
    base_version = ma.fields.Integer(metadata={"description": "The version the edit was made from"})
    document_date = ma.fields.Date()


class ReadArgs(ma.Schema):
    child_person_id = ma.fields.String(metadata={"description": "The child through whom a group entry is read"})
    version = ma.fields.Integer(validate=ma.validate.Range(min=1))


class ListArgs(ma.Schema):
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))


class AttachmentArgs(ma.Schema):
    child_person_id = ma.fields.String()


class UploadSchema(ma.Schema):
    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


def _iso(values: dict) -> dict:
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in values.items()}


@blueprint.route("", methods=["POST"])
@blueprint.arguments(NewDocumentSchema)
@blueprint.response(201)
def create_document(document):
    """Write a logbook entry, a development-talk record or an IUP (which starts as a draft)."""
    document = _iso(document)
    return call_documents(
        "create_document",
        document["kind"],
        document["document_date"],
        document["body"],
        child_person_id=document.get("child_person_id"),
        group_id=document.get("group_id"),
    )


@blueprint.route("/<document_id>", methods=["GET"])
@blueprint.arguments(ReadArgs, location="query")
@blueprint.response(200)
def get_document(args, document_id):
    """Read a document: by default the latest version the caller may read."""
    return call_documents(
        "get_document", document_id, child_person_id=args.get("child_person_id"), version=args.get("version")
    )


@blueprint.route("/<document_id>", methods=["PUT"])
@blueprint.arguments(DocumentEditSchema)
@blueprint.response(200)
def update_document(edit, document_id):
    """Change a document; an edit of a finalized IUP creates a new draft version."""
    edit = _iso(edit)
    return call_documents(
        "update_document",
        document_id,
        edit["body"],
        base_version=edit.get("base_version"),
        document_date=edit.get("document_date"),
    )


@blueprint.route("/<document_id>/versions/<int:version>/finalize", methods=["POST"])
@blueprint.response(200)
def finalize_iup(document_id, version):
    """Finalize the latest draft version of an IUP; a finalized version never changes."""
    return call_documents("finalize_iup", document_id, version)


@blueprint.route("/<document_id>/attachments", methods=["POST"])
@blueprint.arguments(UploadSchema, location="files")
@blueprint.response(201)
def add_attachment(upload, document_id):
    """Attach a JPEG or PNG image to a logbook entry (multipart form field ``file``)."""
    file = upload["file"]
    data = base64.b64encode(file.read()).decode()
    return call_documents("add_attachment", document_id, data, file.mimetype or None)


@blueprint.route("/<document_id>/attachments/<attachment_id>", methods=["GET"])
@blueprint.arguments(AttachmentArgs, location="query")
@blueprint.response(200, content_type="image/*")
def get_attachment(args, document_id, attachment_id):
    """Download an image of a logbook entry."""
    attachment = call_documents(
        "get_attachment", document_id, attachment_id, child_person_id=args.get("child_person_id")
    )
    response = Response(base64.b64decode(attachment["data_base64"]), mimetype=attachment["content_type"])
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.route("/children/<child_person_id>", methods=["GET"])
@blueprint.arguments(ListArgs, location="query")
@blueprint.response(200)
def list_documents(args, child_person_id):
    """List a child's documents and the logbook entries of the child's groups, without their content."""
    return call_documents("list_documents", child_person_id, kind=args.get("kind"))


@blueprint.route("/children/<child_person_id>/access-log", methods=["GET"])
@blueprint.response(200)
def child_access_log(child_person_id):
    """Show a guardian which staff have read or written the child's documents, and when."""
    return call_documents("child_access_log", child_person_id)


@blueprint.after_request
def _no_store(response: Response) -> Response:
    # Document content must not stay in shared or browser caches.
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response

