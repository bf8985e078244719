"""TEST DOUBLE of the school directory's RPC interface, with a fixed answer table.

It stands in for the real school_directory service in the attendance tests:
a real nameko service named ``school_directory`` on the test's broker, whose
RPCs return the data in ``WORLD``. The same data serves the domain tests through
:class:`FakeDirectory`, which needs no broker.
"""

import copy

from nameko.rpc import rpc

UNIT_A = "unit-a"
UNIT_B = "unit-b"
GROUP_7A = "group-7a"
GROUP_9B = "group-9b"
PUPILS_7A = ["pupil-1", "pupil-2", "pupil-3", "pupil-4"]
# A class of usual size for the benchmark.
GROUP_BENCH = "group-bench"
PUPILS_BENCH = [f"bench-pupil-{number:02d}" for number in range(1, 26)]

BASE_WORLD = {
    "units": {
        UNIT_A: {"absence_reporting": True, "attendance_sms_notices": True, "schedule": True, "lesson_plans": True},
        UNIT_B: {"absence_reporting": False, "attendance_sms_notices": False, "schedule": True, "lesson_plans": False},
    },
    "groups": {
        GROUP_7A: {"group_id": GROUP_7A, "unit_id": UNIT_A, "pupil_person_ids": PUPILS_7A, "mentor_person_ids": ["mentor-1"]},
        GROUP_BENCH: {"group_id": GROUP_BENCH, "unit_id": UNIT_A, "pupil_person_ids": PUPILS_BENCH, "mentor_person_ids": []},
        GROUP_9B: {"group_id": GROUP_9B, "unit_id": UNIT_B, "pupil_person_ids": ["pupil-9"], "mentor_person_ids": []},
    },
    "children": {
        "pupil-1": {
            "unit_id": UNIT_A,
            "group_ids": [GROUP_7A],
            "guardians": [
                {"person_id": "guardian-1", "custody": True},
                {"person_id": "guardian-2", "custody": True},
                {"person_id": "guardian-3", "custody": False},
            ],
        },
        "pupil-2": {"unit_id": UNIT_A, "group_ids": [GROUP_7A], "guardians": [{"person_id": "guardian-1", "custody": True}]},
        "pupil-3": {"unit_id": UNIT_A, "group_ids": [GROUP_7A], "guardians": []},
        "pupil-4": {"unit_id": UNIT_A, "group_ids": [GROUP_7A], "guardians": []},
        "pupil-9": {"unit_id": UNIT_B, "group_ids": [GROUP_9B], "guardians": [{"person_id": "guardian-9", "custody": True}]},
        "preschooler-1": {"unit_id": UNIT_A, "group_ids": [], "guardians": [{"person_id": "guardian-1", "custody": True}]},
    },
    "duties": {
        "teacher-1": [{"unit_id": UNIT_A, "duty_role": "Lärare", "mentor_group_ids": []}],
        "mentor-1": [{"unit_id": UNIT_A, "duty_role": "Lärare", "mentor_group_ids": [GROUP_7A]}],
        "principal-a": [{"unit_id": UNIT_A, "duty_role": "Rektor", "mentor_group_ids": []}],
        "teacher-b": [{"unit_id": UNIT_B, "duty_role": "Lärare", "mentor_group_ids": []}],
    },
}

# The data the running double returns; a test may change it.
WORLD: dict = copy.deepcopy(BASE_WORLD)
# How many times each RPC was called, for tests of the stored directory answers.
CALLS: dict = {}


def reset_world() -> None:
    WORLD.clear()
    WORLD.update(copy.deepcopy(BASE_WORLD))
    CALLS.clear()


def child_context_of(child_person_id: str) -> dict | None:
    child = WORLD["children"].get(child_person_id)
    if child is None:
        return None
    return {"child_person_id": child_person_id, "school_form": "GR", **copy.deepcopy(child)}


class FakeDirectory:
    """The directory reader of the domain tests: the same answers, in memory."""

    def child_context(self, child_person_id):
        return child_context_of(child_person_id)

    def unit_features(self, unit_id):
        return dict(WORLD["units"].get(unit_id, {}))

    def group_roster(self, group_id):
        return copy.deepcopy(WORLD["groups"].get(group_id))

    def staff_duties(self, person_id):
        return copy.deepcopy(WORLD["duties"].get(person_id, []))


class DirectoryDouble:
    """TEST DOUBLE: the school directory's internal RPCs, answering from WORLD."""

    name = "school_directory"

    def _count(self, method: str) -> None:
        CALLS[method] = CALLS.get(method, 0) + 1

    @rpc
    def child_context(self, child_person_id):
        self._count("child_context")
        return child_context_of(child_person_id)

    @rpc
    def is_guardian(self, guardian_person_id, child_person_id):
        self._count("is_guardian")
        context = child_context_of(child_person_id) or {"guardians": []}
        return any(g["person_id"] == guardian_person_id and g["custody"] for g in context["guardians"])

    @rpc
    def unit_features(self, unit_id):
        self._count("unit_features")
        return WORLD["units"].get(unit_id)

    @rpc
    def group_roster(self, group_id):
        self._count("group_roster")
        return WORLD["groups"].get(group_id)

    @rpc
    def staff_duties(self, person_id):
        self._count("staff_duties")
        return WORLD["duties"].get(person_id, [])
