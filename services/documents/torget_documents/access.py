"""Who may read and write which document.

The documents service decides every access itself, from the school
directory's current view of the child (unit, groups, guardians with custody),
the caller's duties and the unit's feature switches. It asks the directory
at the time of each request, so access follows the child the moment a
placement changes: the new unit's staff gain it and the earlier unit's staff
lose it. The functions here are pure; :mod:`torget_documents.directory`
fetches the facts.
"""

from dataclasses import dataclass, field

from torget_shared.caller import ACCOUNT, Caller

from torget_documents.models import DEVELOPMENT_TALK, IUP, LOGBOOK

STAFF = "staff"
PRINCIPAL = "principal"
GUARDIAN = "guardian"
PUPIL = "pupil"
NO_ROLE = "none"

# SS 12000 duty roles. Principals read everything of their unit; the
# pedagogical staff who work with the children read and write; other duties
# (health, counselling, administration) give no access to these documents.
PRINCIPAL_DUTY_ROLES = frozenset({"Rektor", "Förskolechef"})
WRITER_DUTY_ROLES = frozenset(
    {
        "Lärare",
        "Förskollärare",
        "Barnskötare",
        "Lärarassistent",
        "Fritidspedagog",
        "Förstelärare",
        "Speciallärare/specialpedagog",
        "Övrig pedagogisk personal",
    }
)
# Only teachers finalize an IUP version.
TEACHER_DUTY_ROLES = frozenset({"Lärare", "Förskollärare", "Förstelärare", "Speciallärare/specialpedagog"})

# The unit feature switch that turns each kind of document on.
FEATURE_OF_KIND = {LOGBOOK: "logbook", DEVELOPMENT_TALK: "development_talks", IUP: "iup"}
# The unit feature switch that lets pupils read their own documents.
PUPIL_ACCESS_FEATURE = "pupil_documents"

READ = "read"
WRITE = "write"
FINALIZE = "finalize"


@dataclass(frozen=True)
class Duty:
    unit_id: str
    duty_role: str
    # Empty: the duty covers the whole unit; otherwise only these groups.
    group_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChildContext:
    child_person_id: str
    # A child may have several current units, e.g. a school and its leisure centre.
    unit_ids: frozenset[str] = frozenset()
    group_ids: frozenset[str] = frozenset()
    custodian_person_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Scope:
    """Where a document belongs now: the units and groups whose staff and families see it."""

    unit_ids: frozenset[str]
    group_ids: frozenset[str]
    child: ChildContext | None = None


@dataclass(frozen=True)
class Actor:
    """The caller together with the duties the directory lists for them."""

    caller: Caller
    duties: tuple[Duty, ...] = ()
    name: str | None = None
    # The unit of each group at the units where the actor has a duty.
    group_units: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    role: str = NO_ROLE
    duty_role: str | None = None
    # Set when access is refused: not_found, bankid_required, write_not_allowed or feature_disabled.
    reason: str | None = None


def child_scope(child: ChildContext | None) -> Scope | None:
    """Return the scope of a document about ``child``: the child's current units and groups."""
    if child is None or not child.unit_ids:
        return None
    return Scope(unit_ids=child.unit_ids, group_ids=child.group_ids, child=child)


def group_scope(unit_id: str, group_id: str, via_child: ChildContext | None = None) -> Scope:
    """Return the scope of a group logbook entry, read as staff or through one child of the group."""
    return Scope(unit_ids=frozenset({unit_id}), group_ids=frozenset({group_id}), child=via_child)


def staff_duty(actor: Actor, scope: Scope) -> Duty | None:
    """Return the actor's strongest duty covering ``scope``, writers before principals."""
    covering = [
        duty
        for duty in actor.duties
        if duty.unit_id in scope.unit_ids and (not duty.group_ids or duty.group_ids & scope.group_ids)
    ]
    for roles in (WRITER_DUTY_ROLES, PRINCIPAL_DUTY_ROLES):
        for duty in covering:
            if duty.duty_role in roles:
                return duty
    return None


def _enabled(features_by_unit: dict, unit_ids, feature: str) -> bool:
    return any(features_by_unit.get(unit_id, {}).get(feature, False) for unit_id in unit_ids)


def _family_role(actor: Actor, scope: Scope, features_by_unit: dict) -> str | None:
    """Return guardian or pupil when the actor reads ``scope`` as the child's family, else None.

    A group entry is read through a child who is in that group at that unit now.
    """
    child = scope.child
    person_id = actor.caller.person_id
    if child is None or not scope.unit_ids <= child.unit_ids or not scope.group_ids <= child.group_ids:
        return None
    if person_id in child.custodian_person_ids:
        return GUARDIAN
    if person_id == child.child_person_id and _enabled(features_by_unit, scope.unit_ids, PUPIL_ACCESS_FEATURE):
        return PUPIL
    return None


def decide(actor: Actor, kind: str, scope: Scope | None, features_by_unit: dict, action: str) -> Decision:
    """Decide whether ``actor`` may perform ``action`` on a document of ``kind`` in ``scope``.

    ``features_by_unit`` maps each unit of the scope to its feature switches.
    Every refusal is ``not_found`` except three: ``bankid_required`` for a
    caller who would be allowed with a BankID session, and, for staff who may
    see the document, ``write_not_allowed`` and ``feature_disabled``.
    """
    caller = actor.caller
    if scope is None or caller.kind != ACCOUNT or not caller.person_id:
        return Decision(False, reason="not_found")

    feature = FEATURE_OF_KIND[kind]
    duty = staff_duty(actor, scope)
    if duty is not None:
        decision = _decide_for_staff(duty, _enabled(features_by_unit, [duty.unit_id], feature), action)
    else:
        role = _family_role(actor, scope, features_by_unit)
        decision = _decide_for_family(role, _enabled(features_by_unit, scope.unit_ids, feature), action)

    if decision.allowed and not caller.has_bankid:
        return Decision(False, role=decision.role, duty_role=decision.duty_role, reason="bankid_required")
    return decision


def _decide_for_family(role: str | None, kind_enabled: bool, action: str) -> Decision:
    if role is None or not kind_enabled or action != READ:
        return Decision(False, reason="not_found")
    return Decision(True, role=role)


def _decide_for_staff(duty: Duty, kind_enabled: bool, action: str) -> Decision:
    role = PRINCIPAL if duty.duty_role in PRINCIPAL_DUTY_ROLES else STAFF
    if not kind_enabled:
        # A unit without the feature has no documents of that kind to show.
        reason = "not_found" if action == READ else "feature_disabled"
        return Decision(False, role=role, duty_role=duty.duty_role, reason=reason)
    if action == READ:
        return Decision(True, role=role, duty_role=duty.duty_role)
    if role == PRINCIPAL or (action == FINALIZE and duty.duty_role not in TEACHER_DUTY_ROLES):
        return Decision(False, role=role, duty_role=duty.duty_role, reason="write_not_allowed")
    return Decision(True, role=role, duty_role=duty.duty_role)
