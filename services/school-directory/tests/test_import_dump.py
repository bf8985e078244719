"""The SS 12000 import from a JSON dump into PostgreSQL: counts, re-runs, changes and bad records."""

import json
from datetime import datetime, timezone

import sqlalchemy as sa

from torget_shared.outbox import outbox_table

from torget_school_directory.generator import luhn_check_digit, write_dump
from torget_school_directory.models import guardianships, persons, placements
from torget_school_directory.sources import DumpSource

LATER = "2026-11-01T08:00:00+00:00"


def _events(engine, event_type: str) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(outbox_table.c.envelope).where(outbox_table.c.event_type == event_type))
        return [row.envelope["payload"] for row in rows]


def _by_id(records: list, record_id: str) -> dict:
    return next(record for record in records if record["id"] == record_id)


def test_import_counts_every_entity(municipality, imported, engine):
    for entity, records in municipality.entities.items():
        assert imported.entities[entity].created == len(records), entity
        assert imported.entities[entity].rejected == 0, entity
    assert imported.rejections == []

    enrolments = sum(len(person["enrolments"]) for person in municipality.entities["persons"])
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(placements)) == enrolments + len(
            municipality.entities["placements"]
        )


def test_import_stores_pin_encrypted_and_hashed(municipality, imported, engine, protector):
    guardian_id = municipality.scenario["guardian"]
    with engine.connect() as connection:
        row = connection.execute(sa.select(persons).where(persons.c.id == guardian_id)).one()

    pin = municipality.scenario["guardian_pin"]
    assert pin.encode() not in row.pin_sealed
    assert protector.decrypt(row.pin_sealed, guardian_id) == pin
    assert row.pin_hash == protector.lookup_hash(pin)


def test_import_publishes_events_without_pin(municipality, imported, engine):
    assert len(_events(engine, "person_changed")) == len(municipality.entities["persons"])
    assert len(_events(engine, "guardianship_established")) == imported.guardianships_established
    assert _events(engine, "ss12000_activities_imported")
    assert _events(engine, "ss12000_calendar_events_imported")

    with engine.connect() as connection:
        envelopes = json.dumps([row.envelope for row in connection.execute(sa.select(outbox_table.c.envelope))])
    assert municipality.scenario["guardian_pin"] not in envelopes


def test_rerun_reports_nothing_changed(imported, importer, dump_folder, engine):
    with engine.connect() as connection:
        events_before = connection.scalar(sa.select(sa.func.count()).select_from(outbox_table))

    report = importer.run(DumpSource(str(dump_folder)))

    assert report.status == "complete"
    assert report.changes == 0
    assert report.entities["persons"].unchanged == imported.entities["persons"].created
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(outbox_table)) == events_before


def test_incremental_change_is_applied(dataset, imported, importer, engine, tmp_path):
    scenario = dataset.scenario
    people = dataset.entities["persons"]
    younger = _by_id(people, scenario["younger_child"])
    younger["givenName"] = "Vera"
    younger["meta"]["modified"] = LATER
    # The older child's guardian gives up custody; the younger keeps it.
    older = _by_id(people, scenario["older_child"])
    second_guardian = people[0]["id"]
    older["responsibles"] = [{"person": {"id": second_guardian}, "relationType": "Vårdnadshavare"}]
    older["meta"]["modified"] = LATER
    # A preschool placement ends.
    placement = next(p for p in dataset.entities["placements"] if "endDate" not in p)
    placement["endDate"] = "2026-12-31"
    placement["meta"]["modified"] = LATER
    write_dump(dataset, str(tmp_path))

    report = importer.run(DumpSource(str(tmp_path)))

    assert report.status == "complete"
    assert report.entities["persons"].changed == 2
    assert report.entities["placements"].ended == 1
    assert report.guardianships_established == 1
    assert report.guardianships_ended == 1
    renamed = [e for e in _events(engine, "person_changed") if e["person_id"] == younger["id"]]
    assert len(renamed) == 2
    assert renamed[-1]["given_name"] == "Vera"
    ended = _events(engine, "guardianship_ended")
    assert ended == [
        {"child_person_id": older["id"], "guardian_person_id": scenario["guardian"], "relation_type": "Vårdnadshavare"}
    ]


def test_deleted_entities_remove_records(dataset, imported, importer, engine, tmp_path):
    child_id = dataset.scenario["younger_child"]
    write_dump(dataset, str(tmp_path))
    (tmp_path / "deletedEntities.json").write_text(json.dumps({"data": {"persons": [child_id]}}))

    report = importer.run(DumpSource(str(tmp_path)))

    assert report.entities["persons"].removed == 1
    with engine.connect() as connection:
        guardianship = connection.execute(sa.select(guardianships).where(guardianships.c.child_id == child_id)).one()
        open_placements = connection.scalar(
            sa.select(sa.func.count())
            .select_from(placements)
            .where(placements.c.child_id == child_id, placements.c.removed_at.is_(None))
        )
    assert guardianship.ended_at is not None
    assert open_placements == 0
    assert any(e["person_id"] == child_id and e["removed"] for e in _events(engine, "person_changed"))


def _coordination_number() -> str:
    """A valid coordination number of someone born on 1 March 2012 (day 01 + 60)."""
    nine = "120361123"
    return f"20{nine}{luhn_check_digit(nine)}"


def test_bad_records_are_rejected_with_reasons(dataset, importer, tmp_path):
    people = dataset.entities["persons"]
    people[0]["civicNo"]["value"] = "201001011234"  # wrong check digit
    people[1]["civicNo"]["value"] = _coordination_number()
    people[1]["birthDate"] = "2012-03-01"
    del people[2]["familyName"]
    people[3]["securityMarking"] = "Hemlig"
    people.append(dict(people[4]))  # the same id twice
    placement = dataset.entities["placements"][0]
    placement["placedAt"] = {"id": "00000000-0000-4000-8000-000000000000"}
    write_dump(dataset, str(tmp_path))

    report = importer.run(DumpSource(str(tmp_path)))

    assert report.status == "complete"
    reasons = {(r["entity"], r["id"]): r["reason"] for r in report.rejections}
    assert reasons[("persons", people[0]["id"])].startswith("invalid personal identity number")
    assert ("persons", people[1]["id"]) not in reasons
    assert reasons[("persons", people[2]["id"])] == "missing required field familyName"
    assert reasons[("persons", people[3]["id"])] == "unknown securityMarking value 'Hemlig'"
    assert reasons[("persons", people[4]["id"])].startswith("duplicate id")
    assert reasons[("placements", placement["id"])] == (
        "organisation 00000000-0000-4000-8000-000000000000 not found"
    )
    # Everything else went in.
    assert report.entities["persons"].created == len(people) - 4


def test_duplicate_pin_rejects_second_person(dataset, importer, tmp_path):
    people = dataset.entities["persons"]
    adult = next(p for p in people if not p["enrolments"] and not p["responsibles"] and p["id"] != people[0]["id"])
    people[0]["civicNo"]["value"] = adult["civicNo"]["value"]
    people[0]["birthDate"] = adult["birthDate"]
    write_dump(dataset, str(tmp_path))

    report = importer.run(DumpSource(str(tmp_path)))

    rejected = [r for r in report.rejections if r["entity"] == "persons"]
    assert len(rejected) == 1
    assert rejected[0]["reason"] == "the personal identity number belongs to another person in the directory"
    assert report.entities["persons"].created == len(people) - 1


def test_import_runs_are_recorded(imported, engine):
    with engine.connect() as connection:
        runs = connection.execute(sa.text("SELECT status, report FROM import_runs")).all()
    assert [run.status for run in runs] == ["complete"]
    assert runs[0].report["changes"] == imported.changes
    assert datetime.fromisoformat(runs[0].report["finished_at"]) <= datetime.now(timezone.utc)
