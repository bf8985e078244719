"""The school directory's facts that access decisions need, fetched by RPC.

The directory is asked at the time of each request rather than copied into
a local read model. Custody, placements and duties then count the moment the
directory records a change, so a child who moves is out of the old unit's
reach at once, with no event lag. The most sensitive service also keeps no
second copy of who has custody of whom. The cost is availability: while the
directory does not answer, documents are refused with DirectoryUnavailable
(fail closed) rather than decided on stale data.

The directory's RPCs and the parts of their replies used here:

- ``child_context(child_person_id)`` (internal): ``{"child_person_id",
  "units": [{"unit_id"}], "groups": [{"group_id"}], "guardians":
  [{"person_id"}]}``, where ``guardians`` lists those with custody; an unknown
  child raises NotFound;
- ``staff_assignments(person_id)``: ``{"units": [{"unit_id", "duty_role"}]}``,
  the person's current duties, asked on behalf of the caller for themselves;
- ``unit_features(unit_id)`` (internal): ``{"features": {name: bool}}``; an
  unknown unit raises NotFound and counts as every feature off.
"""

import logging

import eventlet
from nameko.exceptions import RemoteError, UnknownService

from torget_documents.access import Actor, ChildContext, Duty
from torget_documents.errors import DirectoryUnavailable
from torget_shared.caller import Caller

log = logging.getLogger(__name__)

DIRECTORY_SERVICE = "school_directory"


def _ids(values, key: str) -> frozenset[str]:
    """Return the ids in a list of ids or of objects that name the id under ``key``."""
    result = set()
    for value in values or ():
        if isinstance(value, dict):
            value = value.get(key)
        if value:
            result.add(str(value))
    return frozenset(result)


def _custodians(guardians) -> frozenset[str]:
    # The directory lists only guardians with custody; an explicit custody flag of False still excludes one.
    return frozenset(
        str(guardian["person_id"])
        for guardian in guardians or ()
        if guardian.get("person_id") and guardian.get("custody", True) is True
    )


def child_context_from_reply(reply: dict | None) -> ChildContext | None:
    """Build a ChildContext from a ``child_context`` reply; None for an unknown child."""
    if not reply:
        return None
    return ChildContext(
        child_person_id=str(reply["child_person_id"]),
        unit_ids=_ids(reply.get("units"), "unit_id"),
        group_ids=_ids(reply.get("groups"), "group_id"),
        custodian_person_ids=_custodians(reply.get("guardians")),
    )


def _display_name(reply: dict) -> str | None:
    names = [reply.get("given_name"), reply.get("family_name")]
    return " ".join(name for name in names if name) or None


def actor_from_reply(caller: Caller, reply) -> Actor:
    """Build the Actor from a ``staff_assignments`` reply: duties, name, and the groups of the duties' units."""
    if not isinstance(reply, dict):
        return Actor(caller=caller)
    duties = tuple(
        Duty(unit_id=str(row["unit_id"]), duty_role=str(row["duty_role"]), group_ids=_ids(row.get("group_ids"), "group_id"))
        for row in reply.get("units") or ()
        if row.get("unit_id") and row.get("duty_role")
    )
    group_units = {
        str(group["group_id"]): str(group["unit_id"])
        for group in reply.get("groups") or ()
        if group.get("group_id") and group.get("unit_id")
    }
    return Actor(caller=caller, duties=duties, name=_display_name(reply), group_units=group_units)


def features_from_reply(reply) -> dict[str, bool]:
    features = reply.get("features") if isinstance(reply, dict) else None
    if not isinstance(features, dict):
        return {}
    return {str(name): value is True for name, value in features.items()}


class DirectoryView:
    """One request's view of the directory: each fact is fetched once and kept for the request."""

    def __init__(self, rpc_service, timeout: float):
        self._rpc = rpc_service
        self._timeout = timeout
        self._children: dict[str, ChildContext | None] = {}
        self._features: dict[str, dict[str, bool]] = {}
        self._actors: dict[str, Actor] = {}

    def _call(self, method: str, *args):
        """Call the directory; return None when it raises NotFound, raise DirectoryUnavailable when it fails."""
        try:
            reply = getattr(self._rpc, method).call_async(*args)
            with eventlet.Timeout(self._timeout):
                return reply.result()
        except eventlet.Timeout:
            log.error("school directory %s timed out after %.1f s", method, self._timeout)
            raise DirectoryUnavailable(f"the school directory did not respond to {method} within {self._timeout} s")
        except RemoteError as exc:
            if exc.exc_type == "NotFound":
                return None
            log.error("school directory %s failed: %s", method, exc)
            raise DirectoryUnavailable(f"the school directory failed on {method}") from exc
        except UnknownService as exc:
            log.error("school directory %s failed: the service is not running", method)
            raise DirectoryUnavailable(f"the school directory is not running, so {method} failed") from exc

    def child(self, child_person_id: str) -> ChildContext | None:
        if child_person_id not in self._children:
            self._children[child_person_id] = child_context_from_reply(self._call("child_context", child_person_id))
        return self._children[child_person_id]

    def features(self, unit_ids) -> dict[str, dict[str, bool]]:
        """Return the feature switches of each unit in ``unit_ids``."""
        for unit_id in unit_ids:
            if unit_id not in self._features:
                self._features[unit_id] = features_from_reply(self._call("unit_features", unit_id))
        return {unit_id: self._features[unit_id] for unit_id in unit_ids}

    def actor(self, caller: Caller) -> Actor:
        """Return the caller with their current duties (none for guardians and pupils)."""
        if not caller.person_id:
            return Actor(caller=caller)
        if caller.person_id not in self._actors:
            self._actors[caller.person_id] = actor_from_reply(caller, self._call("staff_assignments", caller.person_id))
        return self._actors[caller.person_id]
