"""Lesson plans of a lesson or a group's week, run against PostgreSQL without a broker."""

import pytest

from conftest import add_lesson, at
from directory_double import GROUP_7A, GROUP_9B, UNIT_A, UNIT_B
from torget_attendance.errors import FeatureDisabled, InvalidRequest, NotFound
from torget_attendance.lesson_plans import attach_plan, plans_for_child, plans_for_group

NOW = at("2026-02-06T15:00:00+01:00")
# ISO week 7 of 2026 runs from Monday 9 February to Sunday 15 February.
FIRST_DATE = "2026-02-09"
LAST_DATE = "2026-02-15"


def run(db, function, *args):
    with db.begin():
        return function(db, *args)


def attach(db, directory, plan, person_id="teacher-1"):
    return run(db, attach_plan, directory, person_id, plan, NOW)


@pytest.fixture
def plans(db, fake_directory):
    """Attach a plan to a lesson of group 7A, and plans to its weeks 7 and 8; return them by name."""
    lesson_id = add_lesson(db, at("2026-02-10T09:00:00+01:00"), 60)
    lesson_plan = attach(db, fake_directory, {
        "lesson_id": lesson_id, "title": "Bråk", "content": "Förlängning av bråk", "homework": "Sidan 12",
    })
    week_plan = attach(db, fake_directory, {
        "group_id": GROUP_7A, "week_year": 2026, "week": 7, "title": "Vecka 7", "goals": "Räkna med bråk",
    })
    next_week_plan = attach(db, fake_directory, {
        "group_id": GROUP_7A, "week_year": 2026, "week": 8, "title": "Vecka 8",
    })
    return {"lesson_id": lesson_id, "lesson": lesson_plan, "week": week_plan, "next_week": next_week_plan}


def test_guardian_sees_plans_of_week(db, fake_directory, plans):
    seen = run(db, plans_for_child, fake_directory, "guardian-1", "pupil-1", FIRST_DATE, LAST_DATE)

    assert sorted(plan["id"] for plan in seen) == sorted([plans["lesson"]["id"], plans["week"]["id"]])
    by_id = {plan["id"]: plan for plan in seen}
    assert by_id[plans["lesson"]["id"]]["homework"] == "Sidan 12"
    assert by_id[plans["lesson"]["id"]]["unit_id"] == UNIT_A
    assert by_id[plans["week"]["id"]]["goals"] == "Räkna med bråk"
    assert by_id[plans["week"]["id"]]["author_person_id"] == "teacher-1"


def test_pupil_sees_own_plans(db, fake_directory, plans):
    seen = run(db, plans_for_child, fake_directory, "pupil-1", "pupil-1", FIRST_DATE, LAST_DATE)

    assert len(seen) == 2


def test_guardian_rejected_when_unit_off(db, fake_directory, world, plans):
    world["units"][UNIT_A]["lesson_plans"] = False

    with pytest.raises(FeatureDisabled) as raised:
        run(db, plans_for_child, fake_directory, "guardian-1", "pupil-1", FIRST_DATE, LAST_DATE)

    assert raised.value.code == "lesson_plans_disabled"
    assert raised.value.params == {"unit_id": UNIT_A}


def test_staff_see_plans_when_unit_off(db, fake_directory, world, plans):
    world["units"][UNIT_A]["lesson_plans"] = False

    seen = run(db, plans_for_group, fake_directory, "mentor-1", GROUP_7A, FIRST_DATE, LAST_DATE)

    assert sorted(plan["id"] for plan in seen) == sorted([plans["lesson"]["id"], plans["week"]["id"]])


def test_guardian_at_unit_off_rejected(db, fake_directory):
    # Unit B has lesson plans switched off.
    lesson_id = add_lesson(db, at("2026-02-10T09:00:00+01:00"), group_ids=(GROUP_9B,), teachers=("teacher-b",),
                           unit_id=UNIT_B)
    attach(db, fake_directory, {"lesson_id": lesson_id, "title": "Historia"}, "teacher-b")

    with pytest.raises(FeatureDisabled) as raised:
        run(db, plans_for_child, fake_directory, "guardian-9", "pupil-9", FIRST_DATE, LAST_DATE)

    assert raised.value.code == "lesson_plans_disabled"


@pytest.mark.parametrize("person_id", ["guardian-9", "guardian-3", "teacher-1", "pupil-2"])
def test_plans_hidden_from_others(db, fake_directory, plans, person_id):
    with pytest.raises(NotFound) as raised:
        run(db, plans_for_child, fake_directory, person_id, "pupil-1", FIRST_DATE, LAST_DATE)

    assert raised.value.code == "child_not_found"


def test_other_family_sees_no_plans(db, fake_directory, world, plans):
    # Pupil 9 is in group 9B at unit B, so no plan of group 7A shows even with lesson plans on at unit B.
    world["units"][UNIT_B]["lesson_plans"] = True

    seen = run(db, plans_for_child, fake_directory, "guardian-9", "pupil-9", FIRST_DATE, LAST_DATE)

    assert seen == []


def test_teacher_without_duty_rejected_for_lesson(db, fake_directory, plans):
    with pytest.raises(NotFound) as raised:
        attach(db, fake_directory, {"lesson_id": plans["lesson_id"], "title": "Annat"}, "teacher-b")

    assert raised.value.code == "lesson_not_found"


def test_teacher_without_duty_rejected_for_week(db, fake_directory, plans):
    with pytest.raises(NotFound) as raised:
        attach(db, fake_directory, {"group_id": GROUP_7A, "week_year": 2026, "week": 7, "title": "Annat"}, "teacher-b")

    assert raised.value.code == "group_not_found"


def test_guardian_may_not_attach(db, fake_directory, plans):
    with pytest.raises(NotFound):
        attach(db, fake_directory, {"lesson_id": plans["lesson_id"], "title": "Annat"}, "guardian-1")


def test_teacher_of_lesson_may_attach(db, fake_directory):
    # teacher-b has no duty at unit A but teaches this lesson.
    lesson_id = add_lesson(db, at("2026-02-10T09:00:00+01:00"), teachers=("teacher-b",))

    plan = attach(db, fake_directory, {"lesson_id": lesson_id, "title": "Vikarie"}, "teacher-b")

    assert plan["lesson_id"] == lesson_id
    assert plan["author_person_id"] == "teacher-b"


def test_second_attach_replaces_plan(db, fake_directory, plans):
    replaced = attach(db, fake_directory, {
        "lesson_id": plans["lesson_id"], "title": "Bråk, del 2", "content": "Förkortning", "homework": "",
    }, "mentor-1")

    assert replaced["id"] == plans["lesson"]["id"]
    assert replaced["title"] == "Bråk, del 2"
    assert replaced["homework"] == ""
    assert replaced["author_person_id"] == "mentor-1"
    seen = run(db, plans_for_group, fake_directory, "teacher-1", GROUP_7A, FIRST_DATE, LAST_DATE)
    assert len(seen) == 2


@pytest.mark.parametrize("plan, field, code", [
    ({"group_id": GROUP_7A, "week_year": 2026, "week": 54, "title": "x"}, "week", "out_of_range"),
    ({"group_id": GROUP_7A, "week_year": 2026, "week": 0, "title": "x"}, "week", "out_of_range"),
    ({"group_id": GROUP_7A, "week_year": "2026", "week": 7, "title": "x"}, "week_year", "out_of_range"),
    ({"group_id": GROUP_7A, "week_year": 2026, "week": 7}, "title", "missing_field"),
    ({"group_id": GROUP_7A, "week_year": 2026, "week": 7, "title": "x" * 201}, "title", "too_long"),
])
def test_invalid_plan_rejected(db, fake_directory, plan, field, code):
    with pytest.raises(InvalidRequest) as raised:
        attach(db, fake_directory, plan)

    assert raised.value.code == code
    assert raised.value.field == field


def test_week_53_accepted_in_long_year(db, fake_directory):
    # 2026 has 53 ISO weeks, because 1 January 2026 is a Thursday. Week 53 ends on Sunday 3 January 2027.
    plan = attach(db, fake_directory, {"group_id": GROUP_7A, "week_year": 2026, "week": 53, "title": "Jul"})

    seen = run(db, plans_for_child, fake_directory, "guardian-1", "pupil-1", "2027-01-01", "2027-01-03")

    assert [item["id"] for item in seen] == [plan["id"]]
