"""The directory's queries and their access rules, on the imported test municipality."""

from datetime import date

import pytest

from torget_school_directory import internal, queries
from torget_school_directory.access import NotFound, Viewer

TODAY = date(2026, 12, 4)  # the date of conftest.TODAY: in the term, after every current placement began


@pytest.fixture
def connection(imported_engine):
    with imported_engine.connect() as connection:
        yield connection


@pytest.fixture
def scenario(municipality):
    return municipality.scenario


def test_guardian_sees_two_children_at_different_units(connection, scenario):
    guardian = Viewer(scenario["guardian"])

    children = queries.guardian_children(connection, guardian, scenario["guardian"], TODAY)

    by_id = {child["person_id"]: child for child in children}
    assert set(by_id) == {scenario["younger_child"], scenario["older_child"]}
    assert [p["unit_id"] for p in by_id[scenario["younger_child"]]["placements"]] == [scenario["preschool"]]
    assert [p["unit_id"] for p in by_id[scenario["older_child"]]["placements"]] == [scenario["school"]]
    assert [g["group_id"] for g in by_id[scenario["younger_child"]]["groups"]] == [scenario["department"]]
    assert [g["group_id"] for g in by_id[scenario["older_child"]]["groups"]] == [scenario["first_class"]]


def test_guardian_children_of_someone_else_is_not_found(connection, scenario):
    with pytest.raises(NotFound):
        queries.guardian_children(connection, Viewer(scenario["protected_guardian"]), scenario["guardian"], TODAY)


def test_child_moved_from_preschool_keeps_history(connection, scenario):
    history = queries.placement_history(connection, Viewer(scenario["guardian"]), scenario["older_child"], TODAY)

    assert [(p["unit_id"], p["school_type"], p["current"]) for p in history] == [
        (scenario["previous_preschool"], "FS", False),
        (scenario["school"], "FKLASS", True),
    ]
    assert history[0]["end_date"] == "2026-06-30"
    assert history[1]["kind"] == "enrolment"


def test_placement_history_hidden_from_other_guardian(connection, scenario):
    with pytest.raises(NotFound):
        queries.placement_history(connection, Viewer(scenario["protected_guardian"]), scenario["older_child"], TODAY)


def test_missing_and_forbidden_child_look_alike(connection, scenario):
    stranger = Viewer(scenario["teacher_elsewhere"])
    with pytest.raises(NotFound) as forbidden:
        queries.child_guardians(connection, stranger, scenario["younger_child"], TODAY)
    with pytest.raises(NotFound) as missing:
        queries.child_guardians(connection, stranger, "00000000-0000-4000-8000-000000000000", TODAY)
    assert str(forbidden.value) == str(missing.value)


def test_child_guardians_for_guardian_and_staff(connection, scenario):
    as_guardian = queries.child_guardians(connection, Viewer(scenario["guardian"]), scenario["younger_child"], TODAY)
    as_staff = queries.child_guardians(connection, Viewer(scenario["teacher_here"]), scenario["younger_child"], TODAY)

    assert [g["person_id"] for g in as_guardian] == [scenario["guardian"]]
    assert "phone_numbers" not in as_guardian[0]
    assert as_staff[0]["phone_numbers"][0]["value"].startswith("+4670")


def test_protected_child_is_left_out_of_group_for_other_guardian(connection, scenario):
    members = queries.group_members(connection, Viewer(scenario["guardian"]), scenario["department"], TODAY)

    member_ids = {member["person_id"] for member in members["members"]}
    assert scenario["younger_child"] in member_ids
    assert scenario["protected_child"] not in member_ids


def test_protected_child_is_listed_for_staff_and_own_guardian(connection, scenario):
    for viewer_id in (scenario["teacher_here"], scenario["protected_guardian"]):
        members = queries.group_members(connection, Viewer(viewer_id), scenario["department"], TODAY)
        protected = [m for m in members["members"] if m["person_id"] == scenario["protected_child"]]
        assert protected == [
            {
                "person_id": scenario["protected_child"],
                "given_name": protected[0]["given_name"],
                "family_name": "Skyddad",
                "protected_identity": True,
            }
        ]


def test_protected_child_unit_hidden_from_staff_elsewhere(connection, scenario):
    stranger = Viewer(scenario["teacher_elsewhere"])
    with pytest.raises(NotFound):
        queries.placement_history(connection, stranger, scenario["protected_child"], TODAY)
    with pytest.raises(NotFound):
        queries.group_members(connection, stranger, scenario["department"], TODAY)
    with pytest.raises(NotFound):
        queries.unit_groups(connection, stranger, scenario["preschool"], TODAY)


def test_protected_guardian_sees_own_child(connection, scenario):
    children = queries.guardian_children(
        connection, Viewer(scenario["protected_guardian"]), scenario["protected_guardian"], TODAY
    )
    assert [child["person_id"] for child in children] == [scenario["protected_child"]]
    assert children[0]["protected_identity"] is True
    assert children[0]["placements"][0]["unit_id"] == scenario["preschool"]


def test_staff_sees_units_and_groups_of_duties(connection, scenario):
    assignments = queries.staff_assignments(connection, Viewer(scenario["teacher_here"]), scenario["teacher_here"], TODAY)

    assert [unit["unit_id"] for unit in assignments["units"]] == [scenario["preschool"]]
    assert scenario["department"] in {group["group_id"] for group in assignments["groups"]}
    unit_groups = queries.unit_groups(connection, Viewer(scenario["teacher_here"]), scenario["preschool"], TODAY)
    assert {group["group_id"] for group in unit_groups} == {group["group_id"] for group in assignments["groups"]}


def test_staff_assignments_of_another_person_not_found(connection, scenario):
    with pytest.raises(NotFound):
        queries.staff_assignments(connection, Viewer(scenario["teacher_here"]), scenario["principal"], TODAY)


def test_administrator_sees_any_unit(connection, scenario):
    administrator = Viewer(None, is_administrator=True)
    assert queries.unit_groups(connection, administrator, scenario["school"], TODAY)


def test_is_guardian_answers_only_those_involved(connection, scenario):
    guardian, child = scenario["guardian"], scenario["older_child"]
    assert queries.is_guardian_for_viewer(connection, Viewer(guardian), guardian, child, TODAY)
    assert not queries.is_guardian_for_viewer(connection, Viewer(scenario["teacher_elsewhere"]), guardian, child, TODAY)
    assert not queries.is_guardian_for_viewer(connection, Viewer(guardian), guardian, scenario["protected_child"], TODAY)


def test_person_roles_of_guardian(connection, scenario, protector):
    roles = internal.person_roles(connection, protector, scenario["guardian_pin"], TODAY)

    assert roles["person_id"] == scenario["guardian"]
    assert sorted(roles["guardian_of"]) == sorted([scenario["younger_child"], scenario["older_child"]])
    assert roles["duties"] == []
    assert roles["protected_identity"] is False


def test_person_roles_of_unknown_number_is_none(connection, protector):
    assert internal.person_roles(connection, protector, "199001010017", TODAY) is None


def test_child_context_lists_custody_guardians(connection, scenario):
    context = internal.child_context(connection, scenario["protected_child"], TODAY)

    assert context["protected_identity"] is True
    assert [unit["unit_id"] for unit in context["units"]] == [scenario["preschool"]]
    assert [group["group_id"] for group in context["groups"]] == [scenario["department"]]
    assert [guardian["person_id"] for guardian in context["guardians"]] == [scenario["protected_guardian"]]


def test_unit_staff_lists_current_duties_once_per_person(connection, scenario):
    staff = internal.unit_staff(connection, scenario["preschool"], TODAY)

    by_id = {member["person_id"]: member for member in staff}
    assert len(by_id) == len(staff)
    assert "Rektor" in by_id[scenario["principal"]]["duty_roles"]
    assert by_id[scenario["teacher_here"]]["given_name"]
    assert scenario["teacher_elsewhere"] not in by_id
    assert internal.unit_staff(connection, "no-such-unit", TODAY) == []
