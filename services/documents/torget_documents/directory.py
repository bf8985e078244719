"""The school directory's facts that access decisions need, fetched by RPC.

The directory is asked at the time of each request rather than copied into
a local read model. Custody, placements and duties then count the moment the
directory records a change, so a child who moves is out of the old unit's
reach at once, with no event lag. The most sensitive service also keeps no
second copy of who has custody of whom. The cost is availability: while the
directory does not answer, documents are refused with DirectoryUnavailable
(fail closed) rather than decided on stale data.

The reply shapes below are the directory's internal RPC contract:

- ``child_context(child_person_id)``: ``None`` for an unknown child, else
  ``{"child_person_id", "unit_id", "group_ids": [...],
  "guardians": [{"person_id", "custody": bool}]}``;
- ``person_roles(person_id)``: ``{"person_id", "name", "duties":
  [{"unit_id", "duty_role", "group_ids"?}]}`` or the list of duties alone;
- ``unit_features(unit_id)``: a mapping of feature name to bool, e.g.
  ``{"logbook": true, "development_talks": true, "iup": false,
  "pupil_documents": false}``.
"""

import logging

import eventlet
from nameko.exceptions import RemoteError, UnknownService

from torget_documents.access import Actor, ChildContext, Duty
from torget_documents.errors import DirectoryUnavailable
from torget_shared.caller import Caller

log = logging.getLogger(__name__)

DIRECTORY_SERVICE = "school_directory"


def _ids(values) -> frozenset[str]:
    result = set()
    for value in values or ():
        if isinstance(value, dict):
            value = value.get("group_id") or value.get("id")
        if value:
            result.add(str(value))
    return frozenset(result)


def child_context_from_reply(reply: dict | None) -> ChildContext | None:
    """Build a ChildContext from a ``child_context`` reply; None for an unknown child."""
    if not reply:
        return None

    unit_id = reply.get("unit_id")
    if unit_id is None and isinstance(reply.get("unit"), dict):
        unit_id = reply["unit"].get("unit_id") or reply["unit"].get("id")
    group_ids = _ids(reply.get("group_ids") if "group_ids" in reply else reply.get("groups"))
    # NOTE: only guardians marked with custody count; a reply that leaves the
    # flag out gives no guardian access, which fails safe.
    custodians = frozenset(
        str(guardian["person_id"])
        for guardian in reply.get("guardians") or ()
        if guardian.get("person_id") and (guardian.get("custody") is True or guardian.get("has_custody") is True)
    )
    return ChildContext(
        child_person_id=str(reply["child_person_id"]),
        unit_id=str(unit_id) if unit_id else None,
        group_ids=group_ids,
        custodian_person_ids=custodians,
    )


def duties_from_reply(reply) -> tuple[str | None, tuple[Duty, ...]]:
    """Return ``(name, duties)`` from a ``person_roles`` reply."""
    if isinstance(reply, dict):
        name, duty_rows = reply.get("name"), reply.get("duties") or ()
    else:
        name, duty_rows = None, reply or ()

    duties = tuple(
        Duty(unit_id=str(row["unit_id"]), duty_role=str(row["duty_role"]), group_ids=_ids(row.get("group_ids")))
        for row in duty_rows
        if row.get("unit_id") and row.get("duty_role")
    )
    return name, duties


def features_from_reply(reply) -> dict[str, bool]:
    if isinstance(reply, dict) and isinstance(reply.get("features"), dict):
        reply = reply["features"]
    if not isinstance(reply, dict):
        return {}
    return {str(name): value is True for name, value in reply.items()}


class DirectoryView:
    """One request's view of the directory: each fact is fetched once and kept for the request."""

    def __init__(self, rpc_service, timeout: float):
        self._rpc = rpc_service
        self._timeout = timeout
        self._children: dict[str, ChildContext | None] = {}
        self._features: dict[str, dict[str, bool]] = {}
        self._actors: dict[str, Actor] = {}

    def _call(self, method: str, *args):
        try:
            reply = getattr(self._rpc, method).call_async(*args)
            with eventlet.Timeout(self._timeout):
                return reply.result()
        except eventlet.Timeout:
            log.error("school directory %s timed out after %.1f s", method, self._timeout)
            raise DirectoryUnavailable(f"the school directory did not respond to {method} within {self._timeout} s")
        except (UnknownService, RemoteError) as exc:
            log.error("school directory %s failed: %s", method, exc)
            raise DirectoryUnavailable(f"the school directory failed on {method}") from exc

    def child(self, child_person_id: str) -> ChildContext | None:
        if child_person_id not in self._children:
            self._children[child_person_id] = child_context_from_reply(self._call("child_context", child_person_id))
        return self._children[child_person_id]

    def features(self, unit_id: str) -> dict[str, bool]:
        if unit_id not in self._features:
            self._features[unit_id] = features_from_reply(self._call("unit_features", unit_id))
        return self._features[unit_id]

    def actor(self, caller: Caller) -> Actor:
        """Return the caller with the duties the directory lists for them (none for non-staff)."""
        if not caller.person_id:
            return Actor(caller=caller)
        if caller.person_id not in self._actors:
            name, duties = duties_from_reply(self._call("person_roles", caller.person_id))
            self._actors[caller.person_id] = Actor(caller=caller, duties=duties, name=name)
        return self._actors[caller.person_id]
