"""Guardians' absence reports: a child absent for a whole day, part of a day or several days.

A report covers [starts_at, ends_at) in UTC. Whole days run from local
midnight to local midnight, so a report for the last Sunday of March covers
23 hours. The unit's rules limit how far ahead and back a guardian may report,
counted in local school days from the day the report is made.
"""

import uuid
import zlib
from datetime import date, datetime, time, timedelta

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

import torget_shared.contracts.attendance  # noqa: F401  (registers the schemas of the events published here)

from torget_attendance import parsing
from torget_attendance.access import child_in_custody, child_visible_to, group_pupils, staff_group
from torget_attendance.errors import Conflict, FeatureDisabled, InvalidRequest
from torget_attendance.models import absence_reports
from torget_attendance.rules import rules_of
from torget_attendance.schooltime import NonexistentLocalTime, day_start, local_date, to_utc

ABSENCE_REPORTED = "absence_reported"
REASONS = ("illness", "medical_appointment", "other")
MAX_REPORT_DAYS = 31
MAX_COMMENT_LENGTH = 500


def covering_reports(session: Session, child_ids, starts_at: datetime, ends_at: datetime) -> dict[str, str]:
    """Return {child person id: report id} of the reports that overlap [starts_at, ends_at)."""
    rows = session.execute(
        select(absence_reports.c.child_person_id, absence_reports.c.id)
        .where(
            absence_reports.c.child_person_id.in_(list(child_ids)),
            absence_reports.c.starts_at < ends_at,
            absence_reports.c.ends_at > starts_at,
        )
        .order_by(absence_reports.c.starts_at)
    )
    covered: dict[str, str] = {}
    for child_person_id, report_id in rows:
        covered.setdefault(child_person_id, report_id)
    return covered


def reports_between(session: Session, child_ids, starts_at: datetime, ends_at: datetime):
    return session.execute(
        select(absence_reports)
        .where(
            absence_reports.c.child_person_id.in_(list(child_ids)),
            absence_reports.c.starts_at < ends_at,
            absence_reports.c.ends_at > starts_at,
        )
        .order_by(absence_reports.c.starts_at, absence_reports.c.id)
    ).all()


def _moment(day: date, wall_time: time | None, field: str) -> datetime:
    try:
        return to_utc(day, wall_time)
    except NonexistentLocalTime:
        raise InvalidRequest("nonexistent_local_time", field, {"date": day.isoformat()}) from None


def report_period(data: dict) -> tuple[date, date, datetime, datetime]:
    """Parse the reported period: first and last local date, optional start and end times.

    ``start_time`` applies to the first date and ``end_time`` to the last;
    without them the period starts and ends at local midnight.
    """
    first_date = parsing.a_date(parsing.required(data, "first_date"), "first_date")
    last_date = parsing.a_date(data.get("last_date") or first_date, "last_date")
    if last_date < first_date:
        raise InvalidRequest("last_date_before_first_date", "last_date")
    if (last_date - first_date).days >= MAX_REPORT_DAYS:
        raise InvalidRequest("period_too_long", "last_date", {"max_days": MAX_REPORT_DAYS})

    start_time = data.get("start_time")
    end_time = data.get("end_time")
    starts_at = day_start(first_date)
    if start_time is not None:
        starts_at = _moment(first_date, parsing.a_time(start_time, "start_time"), "start_time")
    ends_at = day_start(last_date + timedelta(days=1))
    if end_time is not None:
        ends_at = _moment(last_date, parsing.a_time(end_time, "end_time"), "end_time")
    if ends_at <= starts_at:
        raise InvalidRequest("ends_before_start", "end_time")
    return first_date, last_date, starts_at, ends_at


def _check_limits(rules, first_date: date, last_date: date, now: datetime) -> None:
    today = local_date(now)
    earliest = today - timedelta(days=rules.report_days_back)
    latest = today + timedelta(days=rules.report_days_ahead)
    if first_date < earliest:
        raise InvalidRequest("date_too_far_back", "first_date", {"earliest": earliest.isoformat()})
    if last_date > latest:
        raise InvalidRequest("date_too_far_ahead", "last_date", {"latest": latest.isoformat()})


def _lock_child(session: Session, child_person_id: str) -> None:
    """Serialise reports of one child, so two overlapping reports cannot both pass the overlap check."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"absence_reports:{child_person_id}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def reporting_unit(directory, context: dict) -> str:
    """Return the child's first unit, oldest placement first, that takes absence reports.

    A child placed at two units (a pupil and the school's leisure centre,
    say) is reported once, to the first of them with reporting on. Raises
    FeatureDisabled when none has it on.
    """
    for unit_id in context["unit_ids"]:
        if directory.unit_features(unit_id).get("absence_reporting"):
            return unit_id
    first_unit_id = context["unit_ids"][0] if context["unit_ids"] else ""
    raise FeatureDisabled("absence_reporting_disabled", "child_person_id", {"unit_id": first_unit_id})


def report_absence(session: Session, directory, publish, person_id: str, data: dict, now: datetime) -> dict:
    """Store a guardian's absence report and publish ``absence_reported``.

    ``publish(event_type, payload)`` writes to the outbox in ``session``'s transaction.
    """
    child_person_id = parsing.text(data, "child_person_id", 64)
    context = child_in_custody(directory, person_id, child_person_id)
    unit_id = reporting_unit(directory, context)

    first_date, last_date, starts_at, ends_at = report_period(data)
    reason = data.get("reason")
    if reason not in REASONS:
        raise InvalidRequest("invalid_choice", "reason", {"choices": ", ".join(REASONS)})
    comment = parsing.text(data, "comment", MAX_COMMENT_LENGTH, optional=True)
    _check_limits(rules_of(session, unit_id), first_date, last_date, now)

    _lock_child(session, child_person_id)
    overlapping = reports_between(session, [child_person_id], starts_at, ends_at)
    if overlapping:
        raise Conflict("overlapping_report", "first_date", {"report_id": overlapping[0].id})

    report = {
        "id": str(uuid.uuid4()),
        "child_person_id": child_person_id,
        "unit_id": unit_id,
        "reported_by_person_id": person_id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "first_local_date": first_date,
        "last_local_date": local_date(ends_at - timedelta(microseconds=1)),
        "reason": reason,
        "comment": comment,
        "created_at": now,
    }
    session.execute(insert(absence_reports).values(**report))
    publish(
        ABSENCE_REPORTED,
        {
            "report_id": report["id"],
            "child_person_id": child_person_id,
            "unit_id": unit_id,
            "reported_by_person_id": person_id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "first_local_date": first_date.isoformat(),
            "last_local_date": report["last_local_date"].isoformat(),
            "reason": reason,
        },
    )
    return describe_report(report)


def describe_report(report) -> dict:
    get = report.get if isinstance(report, dict) else report._mapping.get
    return {
        "id": get("id"),
        "child_person_id": get("child_person_id"),
        "unit_id": get("unit_id"),
        "reported_by_person_id": get("reported_by_person_id"),
        "starts_at": get("starts_at").isoformat(),
        "ends_at": get("ends_at").isoformat(),
        "first_local_date": get("first_local_date").isoformat(),
        "last_local_date": get("last_local_date").isoformat(),
        "reason": get("reason"),
        "comment": get("comment"),
        "created_at": get("created_at").isoformat(),
    }


def reports_for_child(session: Session, directory, person_id: str, child_person_id: str, first, last) -> list[dict]:
    """Return a child's reports in a period, for the child and the guardians with custody."""
    child_visible_to(directory, person_id, child_person_id)
    first_date, last_date = parsing.period(first, last)
    starts_at, ends_at = day_start(first_date), day_start(last_date + timedelta(days=1))
    return [describe_report(row) for row in reports_between(session, [child_person_id], starts_at, ends_at)]


def reports_for_group(session: Session, directory, person_id: str, group_id: str, first, last) -> list[dict]:
    """Return the reports of a group's pupils in a period, for staff with a duty at the group's unit."""
    staff_group(directory, person_id, group_id)

    first_date, last_date = parsing.period(first, last)
    starts_at, ends_at = day_start(first_date), day_start(last_date + timedelta(days=1))
    rows = reports_between(session, group_pupils(directory, [group_id]), starts_at, ends_at)
    return [describe_report(row) for row in rows]
