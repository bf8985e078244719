"""Events published by the documents service.

Payloads carry ids and dates only, never a document's content: a consumer
that wants to tell a guardian about a new document links to it, and the
documents service checks the guardian's access when it is opened.
"""

from marshmallow import Schema, fields, validate

from torget_shared.events import registry

DOCUMENT_KINDS = ("logbook", "development_talk", "iup")


@registry.register("document_published", 1)
class DocumentPublished(Schema):
    """A document became readable for the child's family.

    Sent when a logbook entry or a development-talk record is written and
    when a teacher finalizes an IUP version. A logbook entry about a group
    has ``group_id`` and no ``child_person_id``; every other document has a
    child.
    """

    document_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))
    child_person_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    group_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    unit_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    published_at = fields.AwareDateTime(required=True)
