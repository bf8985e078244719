"""The nameko entrypoints of the school directory service.

Each RPC method checks who calls, runs one function of the service layer in
a transaction and returns plain data. Methods for clients take the caller
from the RPC context; the internal methods serve only other services.
"""

import logging
import os

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from torget_shared.service import ServiceBase

from torget_school_directory import features, internal, queries
from torget_school_directory.access import InternalOnly, InvalidRequest, NotFound, Viewer
from torget_school_directory.importer import Importer, school_today
from torget_school_directory.pin import protector_from_env
from torget_school_directory.sources import ApiSource, DumpSource, SourceError

log = logging.getLogger(__name__)

CLIENT_ERRORS = (NotFound, InvalidRequest)
INTERNAL_ERRORS = (NotFound, InvalidRequest, InternalOnly)


class PinProtection(DependencyProvider):
    """The PinProtector built once from DIRECTORY_PIN_KEY and DIRECTORY_PIN_HASH_KEY."""

    def setup(self) -> None:
        environ = {**os.environ, **{k: str(v) for k, v in self.container.config.items() if k.startswith("DIRECTORY_")}}
        self.protector = protector_from_env(environ)

    def get_dependency(self, worker_ctx):
        return self.protector


class ImportSettings(DependencyProvider):
    """The import RPC's sources, from the service config or else the environment.

    DIRECTORY_SS12000_URL and DIRECTORY_SS12000_TOKEN name the live API;
    DIRECTORY_IMPORT_DIR is the only folder whose dumps the RPC may read.
    """

    NAMES = ("DIRECTORY_SS12000_URL", "DIRECTORY_SS12000_TOKEN", "DIRECTORY_IMPORT_DIR")

    def get_dependency(self, worker_ctx) -> dict:
        return {name: self.container.config.get(name) or os.environ.get(name) for name in self.NAMES}


class SchoolDirectoryService(ServiceBase):
    name = "school_directory"

    pin_protector = PinProtection()
    import_settings = ImportSettings()

    def _viewer(self) -> Viewer:
        return Viewer.from_caller(self.caller)

    def _require_service(self) -> None:
        if self.calling_service in (None, "gateway"):
            raise InternalOnly("this method is only for other services of the platform, not for client requests")

    # clients (through the gateway) and services

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def guardian_children(self, guardian_person_id: str | None = None) -> list[dict]:
        """Return the children in the guardian's custody (default: the caller) with current units and groups."""
        viewer = self._viewer()
        with self.db.transaction() as session:
            return queries.guardian_children(session, viewer, guardian_person_id or viewer.person_id, school_today())

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def child_guardians(self, child_person_id: str) -> list[dict]:
        with self.db.transaction() as session:
            return queries.child_guardians(session, self._viewer(), child_person_id, school_today())

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def unit_groups(self, unit_id: str) -> list[dict]:
        with self.db.transaction() as session:
            return queries.unit_groups(session, self._viewer(), unit_id, school_today())

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def group_members(self, group_id: str) -> dict:
        with self.db.transaction() as session:
            return queries.group_members(session, self._viewer(), group_id, school_today())

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def staff_assignments(self, person_id: str | None = None) -> dict:
        """Return the staff member's (default: the caller's) units by current duty and those units' groups."""
        viewer = self._viewer()
        with self.db.transaction() as session:
            return queries.staff_assignments(session, viewer, person_id or viewer.person_id, school_today())

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def placement_history(self, child_person_id: str) -> list[dict]:
        with self.db.transaction() as session:
            return queries.placement_history(session, self._viewer(), child_person_id, school_today())

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def is_guardian(self, guardian_person_id: str, child_person_id: str) -> bool:
        """Return whether the person has custody of the child.

        Another service gets the plain result. A client gets True only when
        it is that guardian or may see the child, and False otherwise.
        """
        with self.db.transaction() as session:
            if self.calling_service not in (None, "gateway"):
                from torget_school_directory.access import is_guardian

                return is_guardian(session, guardian_person_id, child_person_id)
            return queries.is_guardian_for_viewer(
                session, self._viewer(), guardian_person_id, child_person_id, school_today()
            )

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def get_unit_features(self, unit_id: str) -> dict:
        """Return a unit's feature switches to its staff, administrators and guardians of children placed there."""
        with self.db.transaction() as session:
            if not features.may_see_features(session, self._viewer(), unit_id, school_today()):
                raise NotFound("school unit not found")
            return features.unit_features(session, unit_id)

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def set_unit_features(self, unit_id: str, changes: dict) -> dict:
        """Switch features of a unit on or off ({feature: bool}); for the unit's principal and administrators."""
        with self.db.transaction() as session:
            result, event = features.set_unit_features(session, self._viewer(), unit_id, changes, school_today())
            if event is not None:
                self.events(session, "unit_features_changed", event)
        log.info("features of unit %s changed: %s", unit_id, sorted(changes))
        return result

    @rpc(expected_exceptions=CLIENT_ERRORS)
    def import_ss12000(self, dump_name: str | None = None) -> dict:
        """Run an SS 12000 import and return its report; for administrators and other services.

        Without ``dump_name`` the import reads the live API of
        DIRECTORY_SS12000_URL; with it, the dump of that name in
        DIRECTORY_IMPORT_DIR. A large first import is better run with the
        torget-directory-import command, since an RPC caller's timeout is
        usually shorter than the import.
        """
        if self.calling_service in (None, "gateway") and not self._viewer().is_administrator:
            raise NotFound("no such method for this caller")
        try:
            source = self._import_source(dump_name)
        except SourceError as exc:
            raise InvalidRequest(str(exc)) from None
        engine = self.db.session.get_bind()
        return Importer(engine, self.pin_protector).run(source).to_dict()

    def _import_source(self, dump_name: str | None):
        settings = self.import_settings
        if dump_name is None:
            if not settings["DIRECTORY_SS12000_URL"]:
                raise InvalidRequest("no SS 12000 API is configured: set DIRECTORY_SS12000_URL")
            return ApiSource(settings["DIRECTORY_SS12000_URL"], settings["DIRECTORY_SS12000_TOKEN"])

        folder = settings["DIRECTORY_IMPORT_DIR"]
        if not folder:
            raise InvalidRequest("no import folder is configured: set DIRECTORY_IMPORT_DIR")
        if os.path.basename(dump_name) != dump_name or dump_name in ("", ".", ".."):
            raise InvalidRequest("dump_name must be the name of a file or folder in the import folder, not a path")
        return DumpSource(os.path.join(folder, dump_name))

    # other services only

    @rpc(expected_exceptions=INTERNAL_ERRORS)
    def person_roles(self, personal_identity_number: str) -> dict | None:
        """Return the person with this number, their custody children with a placement and their duties; None if unknown."""
        self._require_service()
        with self.db.transaction() as session:
            return internal.person_roles(session, self.pin_protector, personal_identity_number, school_today())

    @rpc(expected_exceptions=INTERNAL_ERRORS)
    def unit_features(self, unit_id: str) -> dict:
        self._require_service()
        with self.db.transaction() as session:
            return features.unit_features(session, unit_id)

    @rpc(expected_exceptions=INTERNAL_ERRORS)
    def child_context(self, child_person_id: str) -> dict:
        """Return the child's current units, groups and guardians with custody."""
        self._require_service()
        with self.db.transaction() as session:
            return internal.child_context(session, child_person_id, school_today())

    @rpc(expected_exceptions=INTERNAL_ERRORS)
    def unit_staff(self, unit_id: str) -> list[dict]:
        """Return the staff with a current duty at the unit and their duty roles; unknown units have none."""
        self._require_service()
        with self.db.transaction() as session:
            return internal.unit_staff(session, unit_id, school_today())
