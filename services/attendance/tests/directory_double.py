"""TEST DOUBLE of the school directory's RPC interface, with a fixed answer table.

It stands in for the real school_directory service where a test needs what
the real one cannot easily do: be stopped mid-test, answer from a few
hand-made ids, or run in the benchmark without an SS 12000 import. It is a
real nameko service named ``school_directory`` on the test's broker, and its
RPCs reply in the shapes of the real directory's RPCs (child_context,
unit_features, staff_assignments, group_members), with the same caller
checks where attendance depends on them. The same data serves the domain
tests through :class:`FakeDirectory`, which needs no broker.

The tests against the real directory, with its generated SS 12000 data,
are in test_real_directory.py.
"""

import copy

from nameko.rpc import rpc

from torget_attendance.directory import (
    assignments_from_reply,
    child_context_from_reply,
    features_from_reply,
    members_from_reply,
)
from torget_shared.caller import CallerProvider

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
        GROUP_7A: {"group_id": GROUP_7A, "unit_id": UNIT_A, "member_person_ids": PUPILS_7A},
        GROUP_BENCH: {"group_id": GROUP_BENCH, "unit_id": UNIT_A, "member_person_ids": PUPILS_BENCH},
        GROUP_9B: {"group_id": GROUP_9B, "unit_id": UNIT_B, "member_person_ids": ["pupil-9"]},
    },
    # Each child's current units and groups, and every guardian; only those with custody reach attendance.
    "children": {
        "pupil-1": {
            "unit_ids": [UNIT_A],
            "group_ids": [GROUP_7A],
            "guardians": [
                {"person_id": "guardian-1", "custody": True},
                {"person_id": "guardian-2", "custody": True},
                {"person_id": "guardian-3", "custody": False},
            ],
        },
        "pupil-2": {"unit_ids": [UNIT_A], "group_ids": [GROUP_7A], "guardians": [{"person_id": "guardian-1", "custody": True}]},
        "pupil-3": {"unit_ids": [UNIT_A], "group_ids": [GROUP_7A], "guardians": []},
        "pupil-4": {"unit_ids": [UNIT_A], "group_ids": [GROUP_7A], "guardians": []},
        "pupil-9": {"unit_ids": [UNIT_B], "group_ids": [GROUP_9B], "guardians": [{"person_id": "guardian-9", "custody": True}]},
        "preschooler-1": {"unit_ids": [UNIT_A], "group_ids": [], "guardians": [{"person_id": "guardian-1", "custody": True}]},
    },
    "duties": {
        "teacher-1": [{"unit_id": UNIT_A, "duty_role": "Lärare"}],
        "mentor-1": [{"unit_id": UNIT_A, "duty_role": "Lärare"}],
        "principal-a": [{"unit_id": UNIT_A, "duty_role": "Rektor"}],
        "teacher-b": [{"unit_id": UNIT_B, "duty_role": "Lärare"}],
    },
}

# The data the running double returns; a test may change it.
WORLD: dict = copy.deepcopy(BASE_WORLD)
# How many times each RPC was called, for tests of the stored directory answers.
CALLS: dict = {}


class NotFound(LookupError):
    """The directory's NotFound: nameko sends its class name, which attendance reads."""


def reset_world() -> None:
    WORLD.clear()
    WORLD.update(copy.deepcopy(BASE_WORLD))
    CALLS.clear()


def _group_summary(group_id: str) -> dict:
    group = WORLD["groups"][group_id]
    return {"group_id": group_id, "display_name": group_id, "group_type": "Klass", "school_type": "GR", "unit_id": group["unit_id"]}


def child_context_reply(child_person_id: str) -> dict | None:
    """Return the real directory's ``child_context`` reply for a child of WORLD, or None for an unknown child."""
    child = WORLD["children"].get(child_person_id)
    if child is None:
        return None
    return {
        "child_person_id": child_person_id,
        "given_name": "Barn",
        "family_name": child_person_id,
        "protected_identity": False,
        "units": [{"unit_id": unit_id, "unit_name": unit_id, "school_type": "GR", "school_year": 7} for unit_id in child["unit_ids"]],
        "groups": [_group_summary(group_id) for group_id in child["group_ids"]],
        "guardians": [
            {"person_id": guardian["person_id"], "given_name": "Vårdnadshavare", "family_name": "", "protected_identity": False}
            for guardian in child["guardians"]
            if guardian["custody"]
        ],
    }


def unit_features_reply(unit_id: str) -> dict | None:
    features = WORLD["units"].get(unit_id)
    return None if features is None else {"unit_id": unit_id, "school_types": ["GR"], "features": dict(features)}


def staff_assignments_reply(person_id: str) -> dict:
    duties = WORLD["duties"].get(person_id, [])
    unit_ids = {duty["unit_id"] for duty in duties}
    return {
        "person_id": person_id,
        "units": [
            {"unit_id": duty["unit_id"], "unit_name": duty["unit_id"], "school_types": ["GR"], "duty_id": f"duty-{index}", "duty_role": duty["duty_role"]}
            for index, duty in enumerate(duties)
        ],
        "groups": [_group_summary(group_id) for group_id, group in WORLD["groups"].items() if group["unit_id"] in unit_ids],
    }


def group_members_reply(group_id: str) -> dict | None:
    group = WORLD["groups"].get(group_id)
    if group is None:
        return None
    members = [{"person_id": person_id, "given_name": "Elev", "family_name": person_id, "protected_identity": False}
               for person_id in group["member_person_ids"]]
    return {**_group_summary(group_id), "members": members}


class FakeDirectory:
    """The directory reader of the domain tests: the same replies, in memory, reshaped as the reader does."""

    def child_context(self, child_person_id):
        return child_context_from_reply(child_context_reply(child_person_id))

    def unit_features(self, unit_id):
        return features_from_reply(unit_features_reply(unit_id))

    def staff_assignments(self, person_id):
        return assignments_from_reply(staff_assignments_reply(person_id))

    def group_members(self, group_id):
        return members_from_reply(group_members_reply(group_id))


class DirectoryDouble:
    """TEST DOUBLE: the school directory's RPCs that attendance calls, replying from WORLD."""

    name = "school_directory"

    caller = CallerProvider()

    def _count(self, method: str) -> None:
        CALLS[method] = CALLS.get(method, 0) + 1

    @rpc(expected_exceptions=NotFound)
    def child_context(self, child_person_id):
        self._count("child_context")
        reply = child_context_reply(child_person_id)
        if reply is None:
            raise NotFound("child not found")
        return reply

    @rpc(expected_exceptions=NotFound)
    def unit_features(self, unit_id):
        self._count("unit_features")
        reply = unit_features_reply(unit_id)
        if reply is None:
            raise NotFound("school unit not found")
        return reply

    @rpc(expected_exceptions=NotFound)
    def staff_assignments(self, person_id=None):
        self._count("staff_assignments")
        if person_id is not None and person_id != self.caller.person_id:
            raise NotFound("staff member not found")
        return staff_assignments_reply(person_id or self.caller.person_id)

    @rpc(expected_exceptions=NotFound)
    def group_members(self, group_id):
        """Return the group to staff with a duty at its unit, as the real directory does; NotFound to others."""
        self._count("group_members")
        reply = group_members_reply(group_id)
        duty_units = {duty["unit_id"] for duty in WORLD["duties"].get(self.caller.person_id, [])}
        if reply is None or reply["unit_id"] not in duty_units:
            raise NotFound("group not found")
        return reply
