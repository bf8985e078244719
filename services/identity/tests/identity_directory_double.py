"""TEST DOUBLE of the school directory's internal interface, for the identity tests only.

A real nameko service named ``school_directory`` on the test's broker, with
the RPCs identity uses: ``person_roles(personal_identity_number)``,
``is_guardian(guardian_person_id, child_person_id)`` and
``child_context(child_person_id)`` (only its ``units``). Its answers come from
the table a test fills in; it has no database and no other behaviour of the
real directory.
"""

from nameko.rpc import rpc


class NotFound(Exception):
    """Raised for an unknown child, under the name the directory's error has."""


# personal identity number -> the person_roles result
PEOPLE: dict[str, dict] = {}
# (guardian person id, child person id) pairs
GUARDIANSHIPS: set[tuple[str, str]] = set()
# child person id -> ids of the units where the child is placed
PLACEMENTS: dict[str, list[str]] = {}
# Personal identity numbers passed to person_roles, in call order.
CALLS: list[str] = []


def add_person(personal_number: str, person_id: str, *, guardian_of=(), duties=(), given_name="Test", family_name="Testsson", protected_identity=False) -> None:
    PEOPLE[personal_number] = {
        "person_id": person_id,
        "given_name": given_name,
        "family_name": family_name,
        "protected_identity": protected_identity,
        "guardian_of": list(guardian_of),
        "duties": [dict(duty) for duty in duties],
    }
    for child_person_id in guardian_of:
        GUARDIANSHIPS.add((person_id, child_person_id))


def reset() -> None:
    PEOPLE.clear()
    GUARDIANSHIPS.clear()
    PLACEMENTS.clear()
    CALLS.clear()


class DirectoryDouble:
    name = "school_directory"

    @rpc
    def person_roles(self, personal_identity_number: str) -> dict | None:
        """Return the person's roles, or None for a person the directory does not know, as the directory does."""
        CALLS.append(personal_identity_number)
        return PEOPLE.get(personal_identity_number)

    @rpc
    def child_context(self, child_person_id: str) -> dict:
        if child_person_id not in PLACEMENTS:
            raise NotFound("child not found")
        return {"child_person_id": child_person_id, "units": [{"unit_id": unit_id} for unit_id in PLACEMENTS[child_person_id]]}

    @rpc
    def is_guardian(self, guardian_person_id: str, child_person_id: str) -> bool:
        return (guardian_person_id, child_person_id) in GUARDIANSHIPS
