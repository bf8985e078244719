"""The dependencies of the identity service layer: database, settings, keys, BankID, directory, outbox.

The nameko service builds one :class:`Ports` per worker; a unit test builds
one with fakes.
"""

import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from nameko.exceptions import RemoteError, UnknownService

from torget_identity.bankid import BankIdClient
from torget_identity.errors import Unavailable
from torget_identity.protection import Protector
from torget_identity.settings import IdentitySettings

log = logging.getLogger(__name__)


class Directory(Protocol):
    def person_roles(self, personal_number: str) -> dict: ...

    def is_guardian(self, guardian_person_id: str, child_person_id: str) -> bool: ...

    def child_unit_ids(self, child_person_id: str) -> set[str]: ...


class DirectoryClient:
    """The school directory's internal RPCs, with its failures turned into ``directory_unavailable``."""

    def __init__(self, proxy):
        self._proxy = proxy

    def person_roles(self, personal_number: str) -> dict:
        """Return the directory's person_roles result; an unknown person (None) becomes an empty result."""
        return self._call("person_roles", personal_number) or {}

    def is_guardian(self, guardian_person_id: str, child_person_id: str) -> bool:
        return bool(self._call("is_guardian", guardian_person_id, child_person_id))

    def child_unit_ids(self, child_person_id: str) -> set[str]:
        """Return the ids of the units where the child has a current placement; empty for an unknown child."""
        context = self._call("child_context", child_person_id, not_found=None)
        return {unit["unit_id"] for unit in (context or {}).get("units", [])}

    def _call(self, method: str, *args, **options):
        try:
            return getattr(self._proxy, method)(*args)
        except RemoteError as exc:
            if exc.exc_type == "NotFound" and "not_found" in options:
                return options["not_found"]
            # The arguments may hold a personal identity number, so only the error type is logged.
            log.error("school_directory.%s raised %s", method, exc.exc_type)
            raise Unavailable("directory_unavailable") from exc
        except UnknownService as exc:
            log.warning("school_directory.%s failed: the service is not running", method)
            raise Unavailable("directory_unavailable") from exc


@dataclass
class Ports:
    db: object  # a torget_shared.db.WorkerDatabase: ``transaction()`` yields a session
    settings: IdentitySettings
    protector: Protector
    bankid: BankIdClient
    directory: Directory
    # publish(session, event_type, payload): writes the event to the outbox in that session's transaction.
    publish: Callable


def bankid_client(settings: IdentitySettings) -> BankIdClient:
    return BankIdClient(
        settings.bankid_url,
        client_cert=settings.bankid_client_cert,
        client_key=settings.bankid_client_key,
        ca_bundle=settings.bankid_ca,
        timeout=settings.bankid_timeout,
    )
