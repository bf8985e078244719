"""Check SS 12000 records and turn them into directory rows.

Each ``read_<entity>`` function takes one record as the source sent it and
returns a :class:`Record`, or raises :class:`RecordRejected` with the reason.
The checks here need no database; references to other records are listed in
``Record.references`` and checked by the importer.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import phonenumbers

from torget_school_directory import ss12000
from torget_school_directory.pin import InvalidPersonalIdentityNumber, parse_pin

ENROLMENT_NAMESPACE = uuid.UUID("6f1c3a52-4c1e-4d55-9a55-2b1f4f0f2e11")


class RecordRejected(ValueError):
    """A record that the import cannot apply; the message is the reason shown in the report."""


@dataclass
class Record:
    """One checked SS 12000 record.

    ``row`` is the row of the entity's table. ``references`` maps a table
    name to the ids the record needs there. ``parts`` holds rows of dependent
    tables (a person's guardianships and enrolments, a group's memberships).
    ``content_hash`` covers everything the directory keeps of the record.
    """

    id: str
    row: dict
    modified: datetime | None
    references: dict[str, set[str]] = field(default_factory=dict)
    parts: dict[str, list[dict]] = field(default_factory=dict)
    content_hash: str = ""


def content_hash(*values) -> str:
    canonical = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _required(record: dict, name: str):
    value = record.get(name)
    if value is None or value == "" or value == []:
        raise RecordRejected(f"missing required field {name}")
    return value


def parse_uuid(value, name: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError):
        raise RecordRejected(f"{name} is not a UUID: {str(value)[:60]!r}") from None


def _reference(record: dict, name: str, required: bool = True) -> str | None:
    reference = record.get(name)
    if reference is None:
        if required:
            raise RecordRejected(f"missing required field {name}")
        return None
    if not isinstance(reference, dict) or not reference.get("id"):
        raise RecordRejected(f"missing required field {name}.id")
    return parse_uuid(reference["id"], f"{name}.id")


def _enum(record: dict, name: str, allowed: tuple[str, ...], required: bool = True, default=None):
    value = record.get(name)
    if value is None:
        if required:
            raise RecordRejected(f"missing required field {name}")
        return default
    if value not in allowed:
        raise RecordRejected(f"unknown {name} value {str(value)[:60]!r}")
    return value


def _date(record: dict, name: str, required: bool = False) -> date | None:
    value = record.get(name)
    if value is None:
        if required:
            raise RecordRejected(f"missing required field {name}")
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RecordRejected(f"{name} is not a date (YYYY-MM-DD): {str(value)[:40]!r}") from None


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp; a value without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _modified(record: dict) -> datetime | None:
    meta = record.get("meta")
    if not isinstance(meta, dict) or not meta.get("modified"):
        raise RecordRejected("missing required field meta.modified")
    try:
        return parse_timestamp(meta["modified"])
    except ValueError:
        raise RecordRejected(f"meta.modified is not an RFC 3339 timestamp: {str(meta['modified'])[:40]!r}") from None


def _period(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise RecordRejected(f"endDate {end.isoformat()} is before startDate {start.isoformat()}")


def _text(record: dict, name: str, max_length: int, required: bool = False) -> str | None:
    value = _required(record, name) if required else record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordRejected(f"{name} is not a string")
    value = value.strip()
    if required and not value:
        raise RecordRejected(f"missing required field {name}")
    if len(value) > max_length:
        raise RecordRejected(f"{name} is longer than {max_length} characters")
    return value


def _dated_record(record: dict) -> tuple[str, datetime, date, date | None]:
    """Return the id, meta.modified, startDate (required) and endDate of a record."""
    record_id = parse_uuid(_required(record, "id"), "id")
    modified = _modified(record)
    start_date, end_date = _date(record, "startDate", required=True), _date(record, "endDate")
    _period(start_date, end_date)
    return record_id, modified, start_date, end_date


def read_organisation(record: dict) -> Record:
    record_id = parse_uuid(_required(record, "id"), "id")
    modified = _modified(record)
    school_types = record.get("schoolTypes") or []
    if not isinstance(school_types, list):
        raise RecordRejected("schoolTypes is not a list")
    for school_type in school_types:
        if school_type not in ss12000.SCHOOL_TYPES:
            raise RecordRejected(f"unknown schoolTypes value {str(school_type)[:60]!r}")

    start_date, end_date = _date(record, "startDate"), _date(record, "endDate")
    _period(start_date, end_date)
    row = {
        "id": record_id,
        "display_name": _text(record, "displayName", 300, required=True),
        "organisation_type": _enum(record, "organisationType", ss12000.ORGANISATION_TYPES),
        "organisation_code": _text(record, "organisationCode", 100),
        "organisation_number": _text(record, "organisationNumber", 20),
        "school_unit_code": _text(record, "schoolUnitCode", 20),
        "school_types": sorted(set(school_types)),
        "parent_id": _reference(record, "parentOrganisation", required=False),
        "municipality_code": _text(record, "municipalityCode", 10),
        "start_date": start_date,
        "end_date": end_date,
    }
    return Record(record_id, row, modified, content_hash=content_hash(row))


def _phone_numbers(record: dict) -> list[dict]:
    numbers = []
    for entry in record.get("phoneNumbers") or []:
        if not isinstance(entry, dict) or not entry.get("value"):
            raise RecordRejected("phoneNumbers has an entry without value")
        try:
            parsed = phonenumbers.parse(str(entry["value"]), "SE")
        except phonenumbers.NumberParseException:
            raise RecordRejected("phoneNumbers has a value that is not a phone number") from None
        if not phonenumbers.is_valid_number(parsed):
            raise RecordRejected("phoneNumbers has a value that is not a valid phone number")
        numbers.append(
            {
                "value": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
                "type": entry.get("type"),
                "mobile": bool(entry.get("mobile", True)),
            }
        )
    return numbers


def _emails(record: dict) -> list[dict]:
    emails = []
    for entry in record.get("emails") or []:
        if not isinstance(entry, dict) or "@" not in str(entry.get("value") or ""):
            raise RecordRejected("emails has an entry that is not an e-mail address")
        emails.append({"value": str(entry["value"]).strip(), "type": entry.get("type")})
    return emails


def _responsibles(record: dict, child_id: str) -> list[dict]:
    guardianships = {}
    for entry in record.get("responsibles") or []:
        if not isinstance(entry, dict):
            raise RecordRejected("responsibles has an entry that is not an object")
        guardian_id = _reference(entry, "person")
        if guardian_id == child_id:
            raise RecordRejected("responsibles names the person as their own responsible")
        relation_type = _enum(entry, "relationType", ss12000.RELATION_TYPES, required=False, default=ss12000.CUSTODY)
        guardianships[guardian_id] = {"child_id": child_id, "guardian_id": guardian_id, "relation_type": relation_type}
    return sorted(guardianships.values(), key=lambda row: row["guardian_id"])


def enrolment_id(person_id: str, unit_id: str, school_type: str, start_date: date) -> str:
    return str(uuid.uuid5(ENROLMENT_NAMESPACE, f"{person_id}|{unit_id}|{school_type}|{start_date.isoformat()}"))


def _enrolments(record: dict, person_id: str) -> list[dict]:
    enrolments = {}
    for entry in record.get("enrolments") or []:
        if not isinstance(entry, dict):
            raise RecordRejected("enrolments has an entry that is not an object")
        if entry.get("cancelled"):
            continue
        unit_id = _reference(entry, "enroledAt")
        school_type = _enum(entry, "schoolType", ss12000.SCHOOL_TYPES)
        start_date, end_date = _date(entry, "startDate", required=True), _date(entry, "endDate")
        _period(start_date, end_date)
        school_year = entry.get("schoolYear")
        if school_year is not None and (not isinstance(school_year, int) or not 0 <= school_year <= 10):
            raise RecordRejected(f"enrolments has schoolYear {str(school_year)[:10]!r} outside 0 to 10")

        row_id = enrolment_id(person_id, unit_id, school_type, start_date)
        enrolments[row_id] = {
            "id": row_id,
            "kind": "enrolment",
            "child_id": person_id,
            "school_unit_id": unit_id,
            "group_id": None,
            "school_type": school_type,
            "school_year": school_year,
            "start_date": start_date,
            "end_date": end_date,
            "reason": None,
        }
    return [enrolments[key] for key in sorted(enrolments)]


def read_person(record: dict, protector) -> Record:
    """Check a person; ``protector`` (a PinProtector) seals the personal identity number."""
    record_id = parse_uuid(_required(record, "id"), "id")
    modified = _modified(record)

    pin_hash = pin_sealed = None
    birth_date = _date(record, "birthDate")
    civic_no = record.get("civicNo")
    if civic_no is not None:
        raw = civic_no.get("value") if isinstance(civic_no, dict) else None
        if not raw:
            raise RecordRejected("missing required field civicNo.value")
        try:
            pin = parse_pin(raw)
        except InvalidPersonalIdentityNumber as exc:
            raise RecordRejected(f"invalid personal identity number in civicNo.value: {exc}") from None
        if birth_date is not None and birth_date != pin.birth_date:
            raise RecordRejected("birthDate does not match the date in civicNo.value")
        birth_date = pin.birth_date
        pin_hash = protector.lookup_hash(pin.value)
        pin_sealed = protector.encrypt(pin.value, record_id)

    row = {
        "id": record_id,
        "given_name": _text(record, "givenName", 200, required=True),
        "middle_name": _text(record, "middleName", 200),
        "family_name": _text(record, "familyName", 200, required=True),
        "birth_date": birth_date,
        "pin_hash": pin_hash,
        "security_marking": _enum(
            record, "securityMarking", ss12000.SECURITY_MARKINGS, required=False, default=ss12000.NO_SECURITY_MARKING
        ),
        "person_status": _enum(record, "personStatus", ss12000.PERSON_STATUSES, required=False, default="Aktiv"),
        "emails": _emails(record),
        "phone_numbers": _phone_numbers(record),
    }
    guardianships = _responsibles(record, record_id)
    enrolments = _enrolments(record, record_id)
    # The sealed number is left out of the hash: its nonce differs every time.
    record_hash = content_hash(row, guardianships, enrolments)
    row["pin_sealed"] = pin_sealed

    return Record(
        record_id,
        row,
        modified,
        references={"organisations": {enrolment["school_unit_id"] for enrolment in enrolments}},
        parts={"guardianships": guardianships, "enrolments": enrolments},
        content_hash=record_hash,
    )


def read_group(record: dict) -> Record:
    record_id, modified, start_date, end_date = _dated_record(record)
    row = {
        "id": record_id,
        "display_name": _text(record, "displayName", 300, required=True),
        "group_type": _enum(record, "groupType", ss12000.GROUP_TYPES),
        "school_type": _enum(record, "schoolType", ss12000.SCHOOL_TYPES, required=False),
        "organisation_id": _reference(record, "organisation"),
        "start_date": start_date,
        "end_date": end_date,
    }

    memberships = {}
    for entry in record.get("groupMemberships") or []:
        if not isinstance(entry, dict):
            raise RecordRejected("groupMemberships has an entry that is not an object")
        person_id = _reference(entry, "person")
        membership_start, membership_end = _date(entry, "startDate"), _date(entry, "endDate")
        _period(membership_start, membership_end)
        earlier = memberships.get(person_id)
        # One row per member: a second period of the same person keeps the later one.
        if earlier is None or (membership_start or date.min) > (earlier["start_date"] or date.min):
            memberships[person_id] = {
                "group_id": record_id,
                "person_id": person_id,
                "start_date": membership_start,
                "end_date": membership_end,
            }
    membership_rows = [memberships[key] for key in sorted(memberships)]

    return Record(
        record_id,
        row,
        modified,
        references={"organisations": {row["organisation_id"]}, "persons": set(memberships)},
        parts={"memberships": membership_rows},
        content_hash=content_hash(row, membership_rows),
    )


def read_duty(record: dict) -> Record:
    record_id, modified, start_date, end_date = _dated_record(record)
    row = {
        "id": record_id,
        "person_id": _reference(record, "person"),
        "unit_id": _reference(record, "dutyAt"),
        "duty_role": _enum(record, "dutyRole", ss12000.DUTY_ROLES),
        "signature": _text(record, "signature", 20),
        "start_date": start_date,
        "end_date": end_date,
    }
    return Record(
        record_id,
        row,
        modified,
        references={"organisations": {row["unit_id"]}, "persons": {row["person_id"]}},
        content_hash=content_hash(row),
    )


def read_placement(record: dict) -> Record:
    record_id, modified, start_date, end_date = _dated_record(record)
    row = {
        "id": record_id,
        "kind": "placement",
        "child_id": _reference(record, "child"),
        "school_unit_id": _reference(record, "placedAt"),
        "group_id": _reference(record, "group", required=False),
        "school_type": _enum(record, "schoolType", ss12000.PLACEMENT_SCHOOL_TYPES),
        "school_year": None,
        "start_date": start_date,
        "end_date": end_date,
        "reason": _enum(record, "reason", ss12000.PLACEMENT_REASONS, required=False),
    }
    references = {"organisations": {row["school_unit_id"]}, "persons": {row["child_id"]}}
    if row["group_id"]:
        references["groups"] = {row["group_id"]}
    return Record(record_id, row, modified, references=references, content_hash=content_hash(row))


def read_activity(record: dict) -> Record:
    record_id, modified, start_date, end_date = _dated_record(record)
    if not isinstance(record.get("calendarEventsRequired"), bool):
        raise RecordRejected("missing required field calendarEventsRequired")
    groups = record.get("groups")
    if not isinstance(groups, list) or not groups:
        raise RecordRejected("missing required field groups")
    group_ids = sorted({_reference({"group": entry}, "group") for entry in groups})
    duty_ids = sorted(
        {_reference(entry, "duty") for entry in record.get("teachers") or [] if isinstance(entry, dict)}
    )

    activity = {
        "activity_id": record_id,
        "display_name": _text(record, "displayName", 300, required=True),
        "activity_type": _enum(record, "activityType", ss12000.ACTIVITY_TYPES, required=False),
        "calendar_events_required": record["calendarEventsRequired"],
        "school_unit_id": _reference(record, "organisation"),
        "group_ids": group_ids,
        "teacher_duty_ids": duty_ids,
        "start_date": start_date,
        "end_date": end_date,
        "minutes_planned": record.get("minutesPlanned") if isinstance(record.get("minutesPlanned"), int) else None,
    }
    return Record(
        record_id,
        activity,
        modified,
        references={"organisations": {activity["school_unit_id"]}, "groups": set(group_ids)},
        content_hash=content_hash(activity),
    )


def _timestamp_field(record: dict, name: str) -> datetime:
    value = _required(record, name)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise RecordRejected(f"{name} is not an RFC 3339 timestamp: {str(value)[:40]!r}") from None


def read_calendar_event(record: dict) -> Record:
    record_id = parse_uuid(_required(record, "id"), "id")
    modified = _modified(record)
    start_time, end_time = _timestamp_field(record, "startTime"), _timestamp_field(record, "endTime")
    if end_time <= start_time:
        raise RecordRejected("endTime is not after startTime")

    exceptions = []
    for entry in record.get("studentExceptions") or []:
        if not isinstance(entry, dict):
            raise RecordRejected("studentExceptions has an entry that is not an object")
        exceptions.append(
            {"person_id": _reference(entry, "student"), "participates": bool(entry.get("participates", False))}
        )

    calendar_event = {
        "calendar_event_id": record_id,
        "activity_id": _reference(record, "activity"),
        "start_time": start_time,
        "end_time": end_time,
        "cancelled": bool(record.get("cancelled", False)),
        "teaching_length_student": record.get("teachingLengthStudent")
        if isinstance(record.get("teachingLengthStudent"), int)
        else None,
        "student_exceptions": sorted(exceptions, key=lambda entry: entry["person_id"]),
    }
    return Record(
        record_id,
        calendar_event,
        modified,
        references={"activities": {calendar_event["activity_id"]}},
        content_hash=content_hash(calendar_event),
    )
