"""Each school unit's attendance rules: how far ahead and back guardians may report, and the absence threshold."""

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from torget_attendance.access import require_unit_leader
from torget_attendance.errors import InvalidRequest
from torget_attendance.models import unit_rules

# Defaults of a unit that has set no rules. They are this service's choice,
# not a rule of the Education Act; each unit sets its own.
DEFAULT_REPORT_DAYS_AHEAD = 14
DEFAULT_REPORT_DAYS_BACK = 0
DEFAULT_ABSENCE_THRESHOLD_PERCENT = 10

LIMITS = {
    "report_days_ahead": (0, 365),
    "report_days_back": (0, 30),
    "absence_threshold_percent": (1, 100),
}


@dataclass(frozen=True)
class UnitRules:
    unit_id: str
    report_days_ahead: int = DEFAULT_REPORT_DAYS_AHEAD
    report_days_back: int = DEFAULT_REPORT_DAYS_BACK
    absence_threshold_percent: int = DEFAULT_ABSENCE_THRESHOLD_PERCENT

    def to_dict(self) -> dict:
        return asdict(self)


def rules_of(session: Session, unit_id: str) -> UnitRules:
    row = session.execute(select(unit_rules).where(unit_rules.c.unit_id == unit_id)).first()
    if row is None:
        return UnitRules(unit_id)
    return UnitRules(unit_id, row.report_days_ahead, row.report_days_back, row.absence_threshold_percent)


def set_rules(session: Session, directory, person_id: str, unit_id: str, data: dict, now: datetime) -> dict:
    """Change some or all of a unit's rules; only its principal or administrator may."""
    require_unit_leader(directory, person_id, unit_id)

    values = {}
    for field, (minimum, maximum) in LIMITS.items():
        if field not in data:
            continue
        value = data[field]
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRequest("not_whole_number", field)
        if not minimum <= value <= maximum:
            raise InvalidRequest("out_of_range", field, {"min": minimum, "max": maximum})
        values[field] = value

    current = rules_of(session, unit_id).to_dict()
    current.update(values)
    current.update(updated_at=now, updated_by=person_id)
    changed = session.execute(update(unit_rules).where(unit_rules.c.unit_id == unit_id).values(**current)).rowcount
    if not changed:
        session.execute(insert(unit_rules).values(**current))
    return rules_of(session, unit_id).to_dict()
