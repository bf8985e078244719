"""The nameko entrypoints of the identity service."""

from torget_shared.service import ServiceBase


class IdentityService(ServiceBase):
    name = "identity"
