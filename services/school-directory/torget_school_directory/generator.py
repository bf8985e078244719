"""Generate a fictional municipality in SS 12000 shapes, the same for the same seed.

The data set has an administration per school form area, school units of
every SS 12000 school type, children and pupils with guardians, groups,
placements and enrolments (children who left preschool for preschool class
this term keep their preschool placement as history), staff duties,
activities and calendar events, and one family with protected identity.

Every person is made up: names are drawn from short lists and personal
identity numbers are random numbers with a valid check digit and a birth date
that fits the school form. Such a number may still be someone's real number,
so never match this data against a real register.
"""

import argparse
import json
import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

GIVEN_NAMES = (
    "Alice", "Elsa", "Maja", "Ebba", "Wilma", "Astrid", "Saga", "Alma", "Nora", "Selma", "Leah", "Aisha",
    "Noah", "William", "Hugo", "Liam", "Lucas", "Oscar", "Elias", "Adam", "Ali", "Omar", "Viggo", "Nils",
)  # fmt: skip
FAMILY_NAMES = (
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson",
    "Gustafsson", "Lindberg", "Lindqvist", "Berg", "Ahmed", "Hassan", "Nguyen", "Kowalski", "Virtanen",
)  # fmt: skip

# The first school day of the generated autumn term, and the time stamped as meta.created/modified.
TERM_START = date(2026, 8, 17)
SUMMER_END = date(2026, 6, 30)
META_TIME = "2026-08-01T06:00:00+00:00"
MUNICIPALITY_CODE = "1980"

# Age on 31 December of the term's year, per school year, for the enrolled school forms.
COMPULSORY_YEARS = {"FKLASS": [0], "GR": list(range(1, 10)), "GRS": list(range(1, 10)), "TR": list(range(1, 10)),
                    "SP": list(range(1, 11)), "SAM": list(range(1, 7)), "GY": [1, 2, 3], "GYS": [1, 2, 3, 4]}  # fmt: skip
ADULT_SCHOOL_TYPES = ("VUX", "VUXSFI", "VUXGR", "VUXGY", "VUXSARGR", "VUXSARTR", "VUXSARGY", "SFI",
                      "SARVUX", "SARVUXGR", "SARVUXGY")  # fmt: skip
OTHER_SCHOOL_TYPES = ("KU", "YH", "FHS", "STF", "KKU", "HS", "ABU", "AU")


@dataclass(frozen=True)
class Size:
    """How many of each kind of unit and how full they are."""

    preschools: int
    compulsory_schools: int
    upper_secondary_schools: int
    adult_centres: int
    children_per_department: int
    pupils_per_class: int
    departments_per_preschool: int
    classes_per_year: int
    calendar_events_per_activity: int


SIZES = {
    # About 60 units and 2,600 children and pupils: for the service's tests.
    "test": Size(12, 6, 2, 1, 12, 18, 2, 1, 2),
    # Several hundred units and about 40,000 children and pupils: a mid-sized municipality.
    "large": Size(150, 70, 8, 3, 18, 24, 4, 2, 3),
}


@dataclass
class DataSet:
    entities: dict = field(default_factory=lambda: {name: [] for name in (
        "organisations", "persons", "placements", "groups", "duties", "activities", "calendarEvents")})  # fmt: skip
    # Ids of the persons and units that tests ask about, by role.
    scenario: dict = field(default_factory=dict)

    def record_count(self) -> int:
        return sum(len(records) for records in self.entities.values())


def luhn_check_digit(nine_digits: str) -> int:
    total = 0
    for index, digit in enumerate(nine_digits):
        value = int(digit) * (2 - index % 2)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _ref(record_id: str) -> dict:
    return {"id": record_id}


def _meta() -> dict:
    return {"created": META_TIME, "modified": META_TIME}


class Generator:
    def __init__(self, seed: int, size: Size):
        self.rng = random.Random(seed)
        self.size = size
        self.data = DataSet()
        self.used_pins: set[str] = set()

    # identities

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def pin(self, birth_date: date, coordination: bool = False) -> str:
        while True:
            day = birth_date.day + (60 if coordination else 0)
            serial = f"{self.rng.randrange(1, 1000):03d}"
            nine = f"{birth_date:%y%m}{day:02d}{serial}"
            value = f"{birth_date:%Y%m}{day:02d}{serial}{luhn_check_digit(nine)}"
            if value not in self.used_pins:
                self.used_pins.add(value)
                return value

    def birth_date(self, age: int) -> date:
        """A birth date of someone who turns ``age`` in the term's calendar year."""
        return date(TERM_START.year - age, 1, 1) + timedelta(days=self.rng.randrange(365))

    def person(self, age: int, family_name: str | None = None, security_marking: str = "Ingen") -> dict:
        birth_date = self.birth_date(age)
        record = {
            "id": self.new_id(),
            "meta": _meta(),
            "givenName": self.rng.choice(GIVEN_NAMES),
            "familyName": family_name or self.rng.choice(FAMILY_NAMES),
            "birthDate": birth_date.isoformat(),
            # About one in a hundred has a coordination number (day of birth + 60).
            "civicNo": {"value": self.pin(birth_date, coordination=self.rng.random() < 0.01), "nationality": "SE"},
            "securityMarking": security_marking,
            "personStatus": "Aktiv",
            "enrolments": [],
            "responsibles": [],
        }
        if age >= 18:
            record["phoneNumbers"] = [{"value": f"070-{self.rng.randrange(1000000, 9999999)}", "type": "Hem", "mobile": True}]
        self.data.entities["persons"].append(record)
        return record

    # organisation

    def organisation(self, name: str, organisation_type: str, parent: str | None, school_types=(), code=None) -> dict:
        record = {
            "id": self.new_id(),
            "meta": _meta(),
            "displayName": name,
            "organisationType": organisation_type,
            "municipalityCode": MUNICIPALITY_CODE,
            "startDate": "2010-01-01",
        }
        if parent:
            record["parentOrganisation"] = _ref(parent)
        if school_types:
            record["schoolTypes"] = list(school_types)
            record["schoolUnitCode"] = code or f"{self.rng.randrange(10000000, 99999999)}"
        self.data.entities["organisations"].append(record)
        return record

    def group(self, unit: dict, name: str, group_type: str, school_type: str) -> dict:
        record = {
            "id": self.new_id(),
            "meta": _meta(),
            "displayName": name,
            "groupType": group_type,
            "schoolType": school_type,
            "organisation": _ref(unit["id"]),
            "startDate": TERM_START.isoformat(),
            "groupMemberships": [],
        }
        self.data.entities["groups"].append(record)
        return record

    def duty(self, person: dict, unit: dict, role: str) -> dict:
        record = {
            "id": self.new_id(),
            "meta": _meta(),
            "person": _ref(person["id"]),
            "dutyAt": _ref(unit["id"]),
            "dutyRole": role,
            "signature": (person["givenName"][:2] + person["familyName"][:2]).upper(),
            "startDate": "2024-08-01",
        }
        self.data.entities["duties"].append(record)
        return record

    def staff(self, unit: dict, role: str) -> tuple[dict, dict]:
        person = self.person(self.rng.randrange(25, 65))
        return person, self.duty(person, unit, role)

    def placement(self, child: dict, unit: dict, group: dict | None, school_type: str, start: date, end: date | None):
        record = {
            "id": self.new_id(),
            "meta": _meta(),
            "child": _ref(child["id"]),
            "placedAt": _ref(unit["id"]),
            "schoolType": school_type,
            "startDate": start.isoformat(),
            "reason": "Omsorgsbehov",
        }
        if group is not None:
            record["group"] = _ref(group["id"])
        if end is not None:
            record["endDate"] = end.isoformat()
        self.data.entities["placements"].append(record)
        return record

    @staticmethod
    def enrol(child: dict, unit: dict, school_type: str, school_year: int | None, start: date) -> None:
        enrolment = {"enroledAt": _ref(unit["id"]), "schoolType": school_type, "startDate": start.isoformat()}
        if school_year is not None:
            enrolment["schoolYear"] = school_year
        child["enrolments"].append(enrolment)

    @staticmethod
    def join(group: dict, person: dict) -> None:
        group["groupMemberships"].append({"person": _ref(person["id"]), "startDate": TERM_START.isoformat()})

    def activities(self, unit: dict, group: dict, teacher_duty: dict, subjects: tuple[str, ...]) -> None:
        for subject in subjects:
            activity = {
                "id": self.new_id(),
                "meta": _meta(),
                "displayName": f"{subject} {group['displayName']}",
                "activityType": "Undervisning",
                "calendarEventsRequired": True,
                "startDate": TERM_START.isoformat(),
                "endDate": "2027-06-11",
                "groups": [_ref(group["id"])],
                "teachers": [{"duty": _ref(teacher_duty["id"])}],
                "organisation": _ref(unit["id"]),
                "minutesPlanned": 60 * 30,
            }
            self.data.entities["activities"].append(activity)
            for week in range(self.size.calendar_events_per_activity):
                day = TERM_START + timedelta(days=7 * week + self.rng.randrange(5))
                start = datetime(day.year, day.month, day.day, 7 + self.rng.randrange(7), 0, tzinfo=timezone.utc)
                self.data.entities["calendarEvents"].append(
                    {
                        "id": self.new_id(),
                        "meta": _meta(),
                        "activity": _ref(activity["id"]),
                        "startTime": start.isoformat(),
                        "endTime": (start + timedelta(minutes=60)).isoformat(),
                        "cancelled": False,
                        "teachingLengthStudent": 55,
                    }
                )

    # the municipality

    def build(self) -> DataSet:
        municipality = self.organisation("Exempelby kommun", "Huvudman", None)
        administrations = {
            area: self.organisation(f"{area}förvaltningen", "Förvaltning", municipality["id"])
            for area in ("Förskole", "Grundskole", "Gymnasie- och vuxenutbildnings", "Kultur- och fritids")
        }
        self.children_by_age: dict[int, list[dict]] = {}

        preschools = [self.preschool(number, administrations["Förskole"]) for number in range(1, self.size.preschools + 1)]
        schools = [
            self.compulsory_school(number, administrations["Grundskole"], preschools)
            for number in range(1, self.size.compulsory_schools + 1)
        ]
        self.special_schools(administrations["Grundskole"])
        upper = [self.upper_secondary(number, administrations["Gymnasie- och vuxenutbildnings"]) for number in range(1, self.size.upper_secondary_schools + 1)]
        self.adult_centres(administrations["Gymnasie- och vuxenutbildnings"])
        self.other_units(administrations["Kultur- och fritids"])

        self.families()
        self.scenarios(preschools, schools, upper)
        return self.data

    def preschool(self, number: int, administration: dict) -> dict:
        unit = self.organisation(f"Förskolan Nr {number}", "Skolenhet", administration["id"], ["FS"])
        _, principal_duty = self.staff(unit, "Rektor")
        for department in range(1, self.size.departments_per_preschool + 1):
            group = self.group(unit, f"Avdelning {department}", "Avdelning", "FS")
            for role in ("Förskollärare", "Barnskötare", "Barnskötare"):
                self.staff(unit, role)
            for _ in range(self.size.children_per_department):
                age = self.rng.randrange(1, 6)
                child = self.person(age)
                self.placement(child, unit, group, "FS", date(TERM_START.year - age + 1, 8, 15), None)
                self.join(group, child)
                self.children_by_age.setdefault(age, []).append(child)
        return unit

    def compulsory_school(self, number: int, administration: dict, preschools: list[dict]) -> dict:
        school_types = ["FKLASS", "GR", "FTH"] + (["GRS"] if number % 5 == 0 else [])
        unit = self.organisation(f"Skola Nr {number}", "Skolenhet", administration["id"], school_types)
        self.staff(unit, "Rektor")
        leisure_group = self.group(unit, "Fritids", "Avdelning", "FTH")
        self.staff(unit, "Fritidspedagog")
        for school_type in [t for t in school_types if t in COMPULSORY_YEARS]:
            for year in COMPULSORY_YEARS[school_type] if school_type != "GRS" else [3, 6, 9]:
                for parallel in range(self.size.classes_per_year if school_type != "GRS" else 1):
                    self.school_class(unit, school_type, year, parallel, preschools, leisure_group)
        return unit

    def school_class(self, unit, school_type, year, parallel, preschools, leisure_group) -> None:
        label = "F" if school_type == "FKLASS" else str(year)
        suffix = "S" if school_type == "GRS" else "ABCD"[parallel]
        group = self.group(unit, f"{label}{suffix}", "Klass", school_type)
        _, teacher_duty = self.staff(unit, "Lärare")
        self.activities(unit, group, teacher_duty, ("Svenska", "Matematik") if school_type != "GY" else ("Engelska",))
        pupils = self.size.pupils_per_class if school_type != "GRS" else 6
        age = 6 + year
        for _ in range(pupils):
            child = self.person(age)
            self.enrol(child, unit, school_type, year, TERM_START if school_type == "FKLASS" or year == 1 else date(TERM_START.year - year + 1, 8, 17))
            self.join(group, child)
            self.children_by_age.setdefault(age, []).append(child)
            if school_type == "FKLASS" and preschools:
                # Last term in preschool: the placement ended before the summer.
                preschool = self.rng.choice(preschools)
                self.placement(child, preschool, None, "FS", date(TERM_START.year - 5, 8, 15), SUMMER_END)
            if age <= 9 and self.rng.random() < 0.6:
                self.placement(child, unit, leisure_group, "FTH", TERM_START, None)
                self.join(leisure_group, child)

    def special_schools(self, administration: dict) -> None:
        for name, school_types in (("Träningsskolan", ["TR", "GRS"]), ("Specialskolan", ["SP"]), ("Sameskolan", ["SAM"])):
            unit = self.organisation(name, "Skolenhet", administration["id"], school_types)
            self.staff(unit, "Rektor")
            for school_type in school_types:
                for year in COMPULSORY_YEARS[school_type][::3]:
                    group = self.group(unit, f"{school_type} {year}", "Klass", school_type)
                    self.staff(unit, "Speciallärare/specialpedagog")
                    for _ in range(4):
                        child = self.person(6 + year)
                        self.enrol(child, unit, school_type, year, TERM_START)
                        self.join(group, child)
                        self.children_by_age.setdefault(6 + year, []).append(child)
        for number in (1, 2):
            unit = self.organisation(f"Öppen fritidsverksamhet {number}", "Skolenhet", administration["id"], ["OPPFTH"])
            self.staff(unit, "Fritidspedagog")

    def upper_secondary(self, number: int, administration: dict) -> dict:
        school_types = ["GY"] + (["GYS"] if number <= 2 else [])
        unit = self.organisation(f"Gymnasium Nr {number}", "Skolenhet", administration["id"], school_types)
        self.staff(unit, "Rektor")
        for school_type in school_types:
            for year in COMPULSORY_YEARS[school_type]:
                group = self.group(unit, f"{school_type}{year} Nr {number}", "Klass", school_type)
                _, teacher_duty = self.staff(unit, "Lärare")
                self.activities(unit, group, teacher_duty, ("Engelska",))
                for _ in range(self.size.pupils_per_class if school_type == "GY" else 6):
                    pupil = self.person(15 + year)
                    self.enrol(pupil, unit, school_type, year, date(TERM_START.year - year + 1, 8, 17))
                    self.join(group, pupil)
                    self.children_by_age.setdefault(15 + year, []).append(pupil)
        return unit

    def adult_centres(self, administration: dict) -> None:
        for number in range(1, self.size.adult_centres + 1):
            unit = self.organisation(f"Vuxenutbildningen Nr {number}", "Skolenhet", administration["id"], list(ADULT_SCHOOL_TYPES))
            self.staff(unit, "Rektor")
            for school_type in ADULT_SCHOOL_TYPES:
                group = self.group(unit, f"{school_type} Nr {number}", "Undervisning", school_type)
                self.staff(unit, "Lärare")
                for _ in range(5):
                    student = self.person(self.rng.randrange(20, 60))
                    self.enrol(student, unit, school_type, None, TERM_START)
                    self.join(group, student)

    def other_units(self, administration: dict) -> None:
        for school_type in OTHER_SCHOOL_TYPES:
            unit = self.organisation(f"Enhet {school_type}", "Skolenhet", administration["id"], [school_type])
            self.staff(unit, "Rektor")

    def families(self) -> None:
        """Give every child under 18 one or two guardians; siblings share them."""
        children = [child for age, group in sorted(self.children_by_age.items()) if age < 18 for child in group]
        self.rng.shuffle(children)
        index = 0
        while index < len(children):
            siblings = children[index : index + self.rng.choice((1, 1, 2, 2, 3))]
            index += len(siblings)
            family_name = siblings[0]["familyName"]
            guardians = [self.person(self.rng.randrange(28, 55), family_name) for _ in range(self.rng.choice((1, 2, 2, 2)))]
            for child in siblings:
                child["familyName"] = family_name
                child["responsibles"] = [{"person": _ref(guardian["id"]), "relationType": "Vårdnadshavare"} for guardian in guardians]

    def scenarios(self, preschools: list[dict], schools: list[dict], upper: list[dict]) -> None:
        """Add the families that tests ask about and record their ids."""
        preschool, school = preschools[0], schools[0]
        department = next(g for g in self.data.entities["groups"] if g["organisation"]["id"] == preschool["id"])
        first_class = next(
            g for g in self.data.entities["groups"] if g["organisation"]["id"] == school["id"] and g["schoolType"] == "FKLASS"
        )

        # A guardian with one child in preschool and one in preschool class at another unit.
        guardian = self.person(38, "Exempelsson")
        younger = self.person(3, "Exempelsson")
        self.placement(younger, preschool, department, "FS", date(TERM_START.year - 2, 8, 15), None)
        self.join(department, younger)
        # The older child moved from preschool to preschool class this term.
        older = self.person(6, "Exempelsson")
        self.placement(older, preschools[1], None, "FS", date(TERM_START.year - 5, 8, 15), SUMMER_END)
        self.enrol(older, school, "FKLASS", 0, TERM_START)
        self.join(first_class, older)
        for child in (younger, older):
            child["responsibles"] = [{"person": _ref(guardian["id"]), "relationType": "Vårdnadshavare"}]

        # A child with protected identity in the same department, and the guardian of a classmate.
        protected_guardian = self.person(34, "Skyddad", security_marking="Skyddad folkbokföring")
        protected_child = self.person(4, "Skyddad", security_marking="Skyddad folkbokföring")
        self.placement(protected_child, preschool, department, "FS", date(TERM_START.year - 3, 8, 15), None)
        self.join(department, protected_child)
        protected_child["responsibles"] = [{"person": _ref(protected_guardian["id"]), "relationType": "Vårdnadshavare"}]

        principal = next(
            d["person"]["id"] for d in self.data.entities["duties"] if d["dutyAt"]["id"] == preschool["id"] and d["dutyRole"] == "Rektor"
        )
        teacher_here = next(
            d["person"]["id"] for d in self.data.entities["duties"] if d["dutyAt"]["id"] == preschool["id"] and d["dutyRole"] != "Rektor"
        )
        teacher_elsewhere = next(
            d["person"]["id"] for d in self.data.entities["duties"] if d["dutyAt"]["id"] == upper[0]["id"] and d["dutyRole"] == "Lärare"
        )
        self.data.scenario = {
            "guardian": guardian["id"],
            "guardian_pin": guardian["civicNo"]["value"],
            "younger_child": younger["id"],
            "older_child": older["id"],
            "preschool": preschool["id"],
            "previous_preschool": preschools[1]["id"],
            "school": school["id"],
            "department": department["id"],
            "first_class": first_class["id"],
            "protected_child": protected_child["id"],
            "protected_guardian": protected_guardian["id"],
            "principal": principal,
            "teacher_here": teacher_here,
            "teacher_elsewhere": teacher_elsewhere,
            "upper_secondary": upper[0]["id"],
        }


def generate(seed: int = 12000, size: str | Size = "test") -> DataSet:
    """Return the data set of ``seed`` and ``size`` (a name in SIZES or a Size)."""
    return Generator(seed, SIZES[size] if isinstance(size, str) else size).build()


def write_dump(data: DataSet, folder: str) -> None:
    """Write one ``<entity>.json`` per entity and ``scenario.json`` into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for entity, records in data.entities.items():
        with open(os.path.join(folder, f"{entity}.json"), "w", encoding="utf-8") as dump_file:
            json.dump({"data": records}, dump_file, ensure_ascii=False)
    with open(os.path.join(folder, "scenario.json"), "w", encoding="utf-8") as scenario_file:
        json.dump(data.scenario, scenario_file, indent=2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Write a generated SS 12000 data set as a JSON dump folder.")
    parser.add_argument("folder", help="folder to write <entity>.json files into")
    parser.add_argument("--seed", type=int, default=12000, help="random seed (default 12000)")
    parser.add_argument("--size", choices=sorted(SIZES), default="test", help="municipality size (default test)")
    args = parser.parse_args(argv)
    data = generate(args.seed, args.size)
    write_dump(data, args.folder)
    print(f"wrote {data.record_count()} records to {args.folder}")
    return 0
