"""School days and local times in Europe/Stockholm.

Times are stored in UTC. A school day is a local date in Stockholm, so a day
has 23 hours on the last Sunday of March and 25 on the last Sunday of October.
"""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

SCHOOL_TIMEZONE = ZoneInfo("Europe/Stockholm")


class NonexistentLocalTime(ValueError):
    """A wall-clock time skipped by the change to daylight-saving time."""


def local_datetime(moment: datetime) -> datetime:
    """Return an aware UTC moment as Stockholm wall-clock time."""
    return moment.astimezone(SCHOOL_TIMEZONE)


def local_date(moment: datetime) -> date:
    """Return the school day that contains ``moment``."""
    return local_datetime(moment).date()


def to_utc(day: date, wall_time: time) -> datetime:
    """Return the UTC moment of ``wall_time`` on ``day`` in Stockholm.

    Raises NonexistentLocalTime for a time in the hour skipped in March. A
    time repeated in October resolves to its first occurrence (summer time).
    """
    local = datetime.combine(day, wall_time.replace(tzinfo=None), tzinfo=SCHOOL_TIMEZONE)
    moment = local.astimezone(timezone.utc)
    if moment.astimezone(SCHOOL_TIMEZONE).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise NonexistentLocalTime(f"{wall_time.isoformat()} does not exist on {day.isoformat()} in Stockholm")
    return moment


def day_start(day: date) -> datetime:
    """Return the UTC moment of local midnight that starts ``day``."""
    return to_utc(day, time(0, 0))


def day_bounds(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """Return [start, end) in UTC of the local days ``first_day`` to ``last_day`` inclusive."""
    return day_start(first_day), day_start(last_day + timedelta(days=1))


def iso_week(day: date) -> tuple[int, int]:
    """Return the ISO year and week number of ``day``."""
    year, week, _ = day.isocalendar()
    return year, week


def minutes_between(start: datetime, end: datetime) -> int:
    """Return the whole minutes from ``start`` to ``end``, or 0 when ``end`` is not later."""
    return max(0, int((end - start).total_seconds() // 60))
