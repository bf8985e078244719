"""Parsing of RPC arguments into Python values, with rejections that name the field."""

from datetime import date, datetime, time

from torget_attendance.errors import InvalidRequest


def required(data: dict, field: str, prefix: str = ""):
    value = data.get(field)
    if value is None or value == "":
        raise InvalidRequest("missing_field", prefix + field)
    return value


def text(data: dict, field: str, max_length: int, *, prefix: str = "", optional: bool = False) -> str | None:
    value = data.get(field)
    # An optional field sent empty is cleared, as when it is left out.
    if optional and (value is None or value == ""):
        return None
    value = required(data, field, prefix)
    if not isinstance(value, str):
        raise InvalidRequest("not_text", prefix + field)
    value = value.strip()
    if not value and not optional:
        raise InvalidRequest("missing_field", prefix + field)
    if len(value) > max_length:
        raise InvalidRequest("too_long", prefix + field, {"max": max_length})
    return value


def text_list(data: dict, field: str, *, prefix: str = "", min_items: int = 0) -> list[str]:
    value = data.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise InvalidRequest("not_text_list", prefix + field)
    if len(value) < min_items:
        raise InvalidRequest("too_few_items", prefix + field, {"min": min_items})
    return list(dict.fromkeys(value))


# Dates outside these bounds are typing errors, and near year 1 or 9999 the
# conversion between UTC and Stockholm time overflows datetime.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def _check_bounds(day: date, field: str) -> None:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise InvalidRequest(
            "out_of_range", field, {"min": EARLIEST_DATE.isoformat(), "max": LATEST_DATE.isoformat()}
        )


def a_date(value, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = date.fromisoformat(value)
        except (TypeError, ValueError):
            raise InvalidRequest("invalid_date", field) from None
    _check_bounds(parsed, field)
    return parsed


def a_time(value, field: str) -> time:
    if isinstance(value, time):
        return value
    try:
        parsed = time.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidRequest("invalid_time", field) from None
    if parsed.tzinfo is not None:
        raise InvalidRequest("invalid_time", field)
    return parsed


def aware_datetime(value, field: str) -> datetime:
    """Parse an ISO 8601 timestamp with an offset; a timestamp without one is rejected."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise InvalidRequest("invalid_datetime", field) from None
    if parsed.tzinfo is None:
        raise InvalidRequest("datetime_without_offset", field)
    _check_bounds(parsed.date(), field)
    return parsed


def period(first_value, last_value, max_days: int = 366) -> tuple[date, date]:
    """Parse an inclusive period of local dates, rejecting a reversed or overlong one."""
    first_date = a_date(first_value, "first_date")
    last_date = a_date(last_value, "last_date")
    if last_date < first_date:
        raise InvalidRequest("last_date_before_first_date", "last_date")
    if (last_date - first_date).days >= max_days:
        raise InvalidRequest("period_too_long", "last_date", {"max_days": max_days})
    return first_date, last_date
