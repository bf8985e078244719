"""The nameko entrypoints of the documents service."""

from torget_shared.service import ServiceBase


class DocumentsService(ServiceBase):
    name = "documents"
