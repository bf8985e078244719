"""The nameko entrypoints of the attendance service."""

from torget_shared.service import ServiceBase


class AttendanceService(ServiceBase):
    name = "attendance"
