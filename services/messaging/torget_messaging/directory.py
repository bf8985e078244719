"""Questions to the school directory by RPC, each with a timeout.

The calls carry the caller in the nameko context, so the directory returns
only what that caller may know: a staff member's own duties, the members of a
group at a unit where they have a duty, a guardian's own children.
"""

import logging

import eventlet

from torget_messaging.errors import DirectoryUnavailable, NotFound

log = logging.getLogger(__name__)


class UnknownId(Exception):
    """The school directory knows no object with the id a call named."""


class Directory:
    """The school directory's RPC methods that messaging uses, with the directory's failures translated."""

    def __init__(self, proxy, timeout: float):
        """Wrap a nameko RPC proxy of ``school_directory``; ``timeout`` is in seconds per call."""
        self.proxy = proxy
        self.timeout = timeout

    def _call(self, method: str, *args, unknown_id_expected: bool = False):
        """Call ``method`` and return its reply; raise DirectoryUnavailable when the call fails or times out.

        With ``unknown_id_expected``, the directory's NotFound becomes
        UnknownId for the caller to handle; otherwise it is a failure too.
        """
        try:
            with eventlet.Timeout(self.timeout):
                return getattr(self.proxy, method)(*args)
        except eventlet.Timeout as exc:
            log.warning("school directory call %s timed out after %.1f s", method, self.timeout)
            raise DirectoryUnavailable("directory_unavailable") from exc
        except Exception as exc:
            if unknown_id_expected and getattr(exc, "exc_type", None) == "NotFound":
                raise UnknownId(method) from exc
            log.warning("school directory call %s failed: %s", method, exc)
            raise DirectoryUnavailable("directory_unavailable") from exc

    def staff_assignments(self, person_id: str) -> dict:
        """Return ``{"units": [{"unit_id", "duty_role", ...}], "groups": [{"group_id", "unit_id", ...}]}``."""
        return self._call("staff_assignments", person_id)

    def group_member_ids(self, group_id: str) -> list[str]:
        """Return the person ids of the group's current members; raise NotFound for an unknown group."""
        try:
            group = self._call("group_members", group_id, unknown_id_expected=True)
        except UnknownId as exc:
            raise NotFound("group_not_found", {"group_id": group_id}) from exc
        return [str(member["person_id"]) for member in group.get("members") or []]

    def custody_child_ids(self, guardian_person_id: str) -> set[str]:
        """Return the ids of the children in the guardian's custody."""
        return {str(child["person_id"]) for child in self._call("guardian_children", guardian_person_id)}

    def guardian_reach(self, guardian_person_id: str) -> tuple[set[str], set[str]]:
        """Return the (unit ids, group ids) of the guardian's children's current placements and groups."""
        children = self._call("guardian_children", guardian_person_id)

        unit_ids, group_ids = set(), set()
        for child in children:
            unit_ids.update(str(placement["unit_id"]) for placement in child.get("placements") or [])
            group_ids.update(str(group["group_id"]) for group in child.get("groups") or [])
            unit_ids.update(str(group["unit_id"]) for group in child.get("groups") or [] if group.get("unit_id"))
        return unit_ids, group_ids

    def child_context(self, child_person_id: str) -> dict | None:
        """Return the child's ``units``, ``groups`` and ``guardians`` with custody; None for an unknown child."""
        try:
            return self._call("child_context", child_person_id, unknown_id_expected=True)
        except UnknownId:
            return None

    def unit_staff(self, unit_id: str) -> list[dict]:
        """Return the staff with a current duty at the unit.

        Each entry has ``person_id``, ``given_name``, ``family_name``,
        ``protected_identity`` and ``duty_roles``.
        """
        return self._call("unit_staff", unit_id)


def child_unit_ids(context: dict) -> set[str]:
    """Return the ids of the units where the child of a ``child_context`` reply is placed or in a group."""
    unit_ids = {str(unit["unit_id"]) for unit in context.get("units") or []}
    unit_ids.update(str(group["unit_id"]) for group in context.get("groups") or [] if group.get("unit_id"))
    return unit_ids
