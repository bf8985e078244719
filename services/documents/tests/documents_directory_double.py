"""TEST DOUBLE of the school directory service, for the documents tests only.

It serves the directory's internal RPCs that the documents service calls
(child_context, staff_assignments, unit_features) from an in-memory
state. A test sets that state up and changes it. The services run in the test process,
so the test and this double share ``state``. It goes once the real school
directory runs on main and its tests can seed it.
"""

from dataclasses import dataclass, field

from nameko.rpc import rpc

ALL_FEATURES = {"logbook": True, "development_talks": True, "iup": True, "pupil_documents": False}


class NotFound(LookupError):
    """The directory's error for an unknown child or unit; RPC callers see its class name."""


@dataclass
class DirectoryState:
    placements: dict = field(default_factory=dict)  # child -> ([unit_id], [group_id])
    group_units: dict = field(default_factory=dict)  # group -> unit
    custody: dict = field(default_factory=dict)  # child -> {guardian: has custody}
    duties: dict = field(default_factory=dict)  # person -> [duty]
    names: dict = field(default_factory=dict)  # person -> (given name, family name)
    features: dict = field(default_factory=dict)  # unit -> {feature: bool}
    down: bool = False

    def reset(self) -> None:
        self.__init__()

    def place(self, child: str, unit_id: str, group_ids=(), also_at=()) -> None:
        """Place the child at ``unit_id`` in ``group_ids`` (and at the units ``also_at``), ending other placements."""
        self.placements[child] = ([unit_id, *also_at], list(group_ids))
        for group_id in group_ids:
            self.group_units[group_id] = unit_id

    def add_guardian(self, child: str, guardian: str, custody: bool = True) -> None:
        self.custody.setdefault(child, {})[guardian] = custody

    def add_duty(self, person: str, unit_id: str, duty_role: str, name: str | None = None) -> None:
        self.duties.setdefault(person, []).append({"unit_id": unit_id, "duty_role": duty_role})
        if name:
            self.names[person] = tuple(name.split(" ", 1))

    def add_group(self, group_id: str, unit_id: str) -> None:
        self.group_units[group_id] = unit_id

    def set_features(self, unit_id: str, **switches) -> None:
        self.features[unit_id] = {**ALL_FEATURES, **switches}


state = DirectoryState()


class DirectoryDouble:
    """Serves the replies of the real directory's RPCs, in the same shapes."""

    name = "school_directory"

    def _check_up(self) -> None:
        if state.down:
            raise RuntimeError("the directory double is switched off")

    @rpc(expected_exceptions=NotFound)
    def child_context(self, child_person_id):
        self._check_up()
        if child_person_id not in state.placements:
            raise NotFound("child not found")
        unit_ids, group_ids = state.placements[child_person_id]
        custodians = [guardian for guardian, custody in state.custody.get(child_person_id, {}).items() if custody]
        return {
            "child_person_id": child_person_id,
            "units": [{"unit_id": unit_id} for unit_id in unit_ids],
            "groups": [{"group_id": group_id, "unit_id": state.group_units[group_id]} for group_id in group_ids],
            "guardians": [{"person_id": guardian} for guardian in custodians],
        }

    @rpc
    def staff_assignments(self, person_id):
        self._check_up()
        duties = state.duties.get(person_id, [])
        unit_ids = {duty["unit_id"] for duty in duties}
        given_name, family_name = state.names.get(person_id, (None, None))
        return {
            "person_id": person_id,
            "given_name": given_name,
            "family_name": family_name,
            "units": duties,
            "groups": [
                {"group_id": group_id, "unit_id": unit_id}
                for group_id, unit_id in state.group_units.items()
                if unit_id in unit_ids
            ],
        }

    @rpc(expected_exceptions=NotFound)
    def unit_features(self, unit_id):
        self._check_up()
        if unit_id not in state.features:
            raise NotFound("school unit not found")
        return {"unit_id": unit_id, "features": state.features[unit_id]}
