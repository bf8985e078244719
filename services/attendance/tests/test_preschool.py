"""Preschool check-in and check-out, run against PostgreSQL without a broker."""

import pytest
import sqlalchemy as sa

from conftest import at
from directory_double import UNIT_A
from torget_attendance.errors import Conflict, InvalidRequest, NotFound
from torget_attendance.models import preschool_visits
from torget_attendance.preschool import check_in, check_out, visits_for_child

NOW = at("2026-02-10T16:05:00+01:00")
MORNING = "2026-02-10T07:30:00+01:00"
AFTERNOON = "2026-02-10T16:00:00+01:00"


@pytest.fixture(autouse=True)
def second_family(world):
    """Place a second preschooler, in guardian 9's custody, at unit A."""
    world["children"]["preschooler-2"] = {
        "unit_ids": [UNIT_A], "group_ids": [], "guardians": [{"person_id": "guardian-9", "custody": True}],
    }


def run(db, function, *args):
    with db.begin():
        return function(db, *args)


def arrive(db, directory, child_person_id="preschooler-1", moment=MORNING, person_id="teacher-1"):
    return run(db, check_in, directory, person_id, {"child_person_id": child_person_id, "at": moment}, NOW)


def leave(db, directory, child_person_id="preschooler-1", moment=AFTERNOON, person_id="teacher-1"):
    return run(db, check_out, directory, person_id, {"child_person_id": child_person_id, "at": moment}, NOW)


def stored_visits(db) -> int:
    with db.begin():
        return db.scalar(sa.select(sa.func.count()).select_from(preschool_visits))


def test_staff_check_child_in_and_out(db, fake_directory):
    arrived = arrive(db, fake_directory)
    left = leave(db, fake_directory, person_id="mentor-1")

    assert arrived["checked_out_at"] is None
    assert left["id"] == arrived["id"]
    assert left["unit_id"] == UNIT_A
    assert left["local_date"] == "2026-02-10"
    assert left["checked_in_at"] == "2026-02-10T06:30:00+00:00"
    assert left["checked_out_at"] == "2026-02-10T15:00:00+00:00"


def test_check_in_defaults_to_now(db, fake_directory):
    arrived = run(db, check_in, fake_directory, "teacher-1", {"child_person_id": "preschooler-1"}, NOW)

    assert arrived["checked_in_at"] == NOW.isoformat()


def test_double_check_in_rejected(db, fake_directory):
    arrive(db, fake_directory)

    with pytest.raises(Conflict) as raised:
        arrive(db, fake_directory, moment="2026-02-10T08:00:00+01:00")

    assert raised.value.code == "already_checked_in"
    assert raised.value.field == "child_person_id"
    assert stored_visits(db) == 1


def test_check_out_without_check_in_rejected(db, fake_directory):
    with pytest.raises(Conflict) as raised:
        leave(db, fake_directory)

    assert raised.value.code == "not_checked_in"
    assert raised.value.field == "child_person_id"


def test_check_out_before_check_in_rejected(db, fake_directory):
    arrive(db, fake_directory)

    with pytest.raises(InvalidRequest) as raised:
        leave(db, fake_directory, moment="2026-02-10T07:00:00+01:00")

    assert raised.value.code == "ends_before_start"
    assert raised.value.field == "at"


def test_check_out_twice_rejected(db, fake_directory):
    arrive(db, fake_directory)
    leave(db, fake_directory)

    with pytest.raises(Conflict) as raised:
        leave(db, fake_directory)

    assert raised.value.code == "not_checked_in"


def test_second_visit_same_day_allowed(db, fake_directory):
    arrive(db, fake_directory)
    leave(db, fake_directory, moment="2026-02-10T11:00:00+01:00")

    arrive(db, fake_directory, moment="2026-02-10T13:00:00+01:00")
    leave(db, fake_directory)

    visits = run(db, visits_for_child, fake_directory, "guardian-1", "preschooler-1", "2026-02-10", "2026-02-10")
    assert len(visits) == 2


def test_check_in_during_earlier_visit_rejected(db, fake_directory):
    arrive(db, fake_directory)
    leave(db, fake_directory, moment="2026-02-10T12:00:00+01:00")

    with pytest.raises(InvalidRequest) as raised:
        arrive(db, fake_directory, moment="2026-02-10T11:00:00+01:00")

    assert raised.value.code == "before_last_check_out"
    assert raised.value.field == "at"
    assert stored_visits(db) == 1


@pytest.mark.parametrize("moment, code", [
    ("2026-02-10T16:30:00+01:00", "in_the_future"),
    ("2026-02-10T03:00:00+01:00", "too_far_back"),
    ("2026-02-10T07:30:00", "datetime_without_offset"),
])
def test_invalid_check_in_time_rejected(db, fake_directory, moment, code):
    with pytest.raises(InvalidRequest) as raised:
        arrive(db, fake_directory, moment=moment)

    assert raised.value.code == code
    assert raised.value.field == "at"
    assert stored_visits(db) == 0


@pytest.mark.parametrize("person_id", ["teacher-b", "guardian-1"])
def test_check_in_by_others_rejected(db, fake_directory, person_id):
    with pytest.raises(NotFound) as raised:
        arrive(db, fake_directory, person_id=person_id)

    assert raised.value.code == "child_not_found"
    assert stored_visits(db) == 0


def test_staff_elsewhere_may_not_check_out(db, fake_directory):
    arrive(db, fake_directory)

    with pytest.raises(NotFound):
        leave(db, fake_directory, person_id="teacher-b")


def test_guardian_sees_own_child_only(db, fake_directory):
    own = arrive(db, fake_directory)
    arrive(db, fake_directory, child_person_id="preschooler-2")

    visits = run(db, visits_for_child, fake_directory, "guardian-1", "preschooler-1", "2026-02-10", "2026-02-10")

    assert [visit["id"] for visit in visits] == [own["id"]]
    assert visits[0]["checked_in_at"] == "2026-02-10T06:30:00+00:00"
    assert visits[0]["checked_out_at"] is None


@pytest.mark.parametrize("person_id", ["guardian-9", "teacher-b"])
def test_visits_hidden_from_others(db, fake_directory, person_id):
    arrive(db, fake_directory)

    with pytest.raises(NotFound) as raised:
        run(db, visits_for_child, fake_directory, person_id, "preschooler-1", "2026-02-10", "2026-02-10")

    assert raised.value.code == "child_not_found"


def test_staff_at_unit_see_visits(db, fake_directory, world):
    world["duties"]["teacher-b"].append({"unit_id": UNIT_A, "duty_role": "Förskollärare"})
    arrive(db, fake_directory)

    visits = run(db, visits_for_child, fake_directory, "teacher-b", "preschooler-1", "2026-02-10", "2026-02-10")

    assert len(visits) == 1
