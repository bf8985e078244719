"""TEST DOUBLE of the school directory service, for the documents tests only.

It serves the directory's internal RPCs that the documents service calls
(child_context, person_roles, unit_features, is_guardian) from an in-memory
state. A test sets that state up and changes it. The services run in the test process,
so the test and this double share ``state``. It goes once the real school
directory runs on main and its tests can seed it.
"""

from dataclasses import dataclass, field

from nameko.rpc import rpc

ALL_FEATURES = {"logbook": True, "development_talks": True, "iup": True, "pupil_documents": False}


@dataclass
class DirectoryState:
    placements: dict = field(default_factory=dict)  # child -> (unit_id, [group_id])
    custody: dict = field(default_factory=dict)  # child -> {guardian: has custody}
    duties: dict = field(default_factory=dict)  # person -> [duty]
    names: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)  # unit -> {feature: bool}
    down: bool = False

    def reset(self) -> None:
        self.__init__()

    def place(self, child: str, unit_id: str, group_ids=()) -> None:
        self.placements[child] = (unit_id, list(group_ids))

    def add_guardian(self, child: str, guardian: str, custody: bool = True) -> None:
        self.custody.setdefault(child, {})[guardian] = custody

    def add_duty(self, person: str, unit_id: str, duty_role: str, name: str | None = None, group_ids=()) -> None:
        self.duties.setdefault(person, []).append({"unit_id": unit_id, "duty_role": duty_role, "group_ids": list(group_ids)})
        if name:
            self.names[person] = name

    def set_features(self, unit_id: str, **switches) -> None:
        self.features[unit_id] = {**ALL_FEATURES, **switches}


state = DirectoryState()


class DirectoryDouble:
    name = "school_directory"

    def _check_up(self) -> None:
        if state.down:
            raise RuntimeError("the directory double is switched off")

    @rpc
    def child_context(self, child_person_id):
        self._check_up()
        if child_person_id not in state.placements:
            return None
        unit_id, group_ids = state.placements[child_person_id]
        guardians = [
            {"person_id": guardian, "custody": custody}
            for guardian, custody in state.custody.get(child_person_id, {}).items()
        ]
        return {"child_person_id": child_person_id, "unit_id": unit_id, "group_ids": group_ids, "guardians": guardians}

    @rpc
    def person_roles(self, person_id):
        self._check_up()
        return {"person_id": person_id, "name": state.names.get(person_id), "duties": state.duties.get(person_id, [])}

    @rpc
    def unit_features(self, unit_id):
        self._check_up()
        return state.features.get(unit_id, dict(ALL_FEATURES))

    @rpc
    def is_guardian(self, guardian_person_id, child_person_id):
        self._check_up()
        return state.custody.get(child_person_id, {}).get(guardian_person_id, False)
