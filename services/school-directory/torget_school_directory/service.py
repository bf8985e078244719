"""The nameko entrypoints of the school directory service."""

from torget_shared.service import ServiceBase


class SchoolDirectoryService(ServiceBase):
    name = "school_directory"
