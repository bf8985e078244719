"""The nameko entrypoints of the messaging service."""

from torget_shared.service import ServiceBase


class MessagingService(ServiceBase):
    name = "messaging"
