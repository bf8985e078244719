"""Lesson plans: a teacher's title, content, goals and homework for one lesson or a group's week.

Pupils and their guardians see the plans only while the unit has lesson plans switched on.
"""

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from torget_attendance import parsing
from torget_attendance.access import child_visible_to, groups_with_feature, staff_group
from torget_attendance.errors import InvalidRequest
from torget_attendance.models import lesson_plans
from torget_attendance.registration import require_registrar
from torget_attendance.schedule import get_lesson, lessons_of_groups
from torget_attendance.schooltime import iso_week

MAX_TEXT = 20_000


def _plan_target(session: Session, directory, person_id: str, data: dict) -> dict:
    """Return the plan's unit and target (a lesson, or a group's ISO week) after checking the caller."""
    if data.get("lesson_id"):
        lesson = get_lesson(session, data["lesson_id"])
        require_registrar(session, directory, person_id, lesson)
        return {"unit_id": lesson.unit_id, "lesson_id": lesson.id, "group_id": None, "week_year": None, "week": None}

    group_id = parsing.text(data, "group_id", 64)
    week_year = data.get("week_year")
    week = data.get("week")
    if not isinstance(week_year, int) or isinstance(week_year, bool) or not 2000 <= week_year <= 2100:
        raise InvalidRequest("out_of_range", "week_year", {"min": 2000, "max": 2100})
    weeks_in_year = date(week_year, 12, 28).isocalendar()[1]
    if not isinstance(week, int) or isinstance(week, bool) or not 1 <= week <= weeks_in_year:
        raise InvalidRequest("out_of_range", "week", {"min": 1, "max": weeks_in_year})

    group = staff_group(directory, person_id, group_id)
    return {"unit_id": group["unit_id"], "lesson_id": None, "group_id": group_id, "week_year": week_year, "week": week}


def attach_plan(session: Session, directory, person_id: str, data: dict, now: datetime) -> dict:
    """Create the plan of a lesson or week, or replace the one it has."""
    target = _plan_target(session, directory, person_id, data)
    content = {
        "title": parsing.text(data, "title", 200),
        "content": parsing.text(data, "content", MAX_TEXT, optional=True) or "",
        "goals": parsing.text(data, "goals", MAX_TEXT, optional=True) or "",
        "homework": parsing.text(data, "homework", MAX_TEXT, optional=True) or "",
        "author_person_id": person_id,
        "updated_at": now,
    }

    match = [lesson_plans.c[name] == value for name, value in target.items() if value is not None and name != "unit_id"]
    existing = session.scalars(select(lesson_plans.c.id).where(*match).with_for_update()).first()
    if existing is None:
        plan_id = str(uuid.uuid4())
        session.execute(insert(lesson_plans).values(id=plan_id, created_at=now, **target, **content))
    else:
        plan_id = existing
        session.execute(update(lesson_plans).where(lesson_plans.c.id == plan_id).values(**content))
    return describe_plan(session.execute(select(lesson_plans).where(lesson_plans.c.id == plan_id)).one())


def describe_plan(row) -> dict:
    return {
        "id": row.id,
        "unit_id": row.unit_id,
        "lesson_id": row.lesson_id,
        "group_id": row.group_id,
        "week_year": row.week_year,
        "week": row.week,
        "title": row.title,
        "content": row.content,
        "goals": row.goals,
        "homework": row.homework,
        "author_person_id": row.author_person_id,
        "updated_at": row.updated_at.isoformat(),
    }


def plans_of_groups(session: Session, group_ids: list[str], first_date: date, last_date: date) -> list[dict]:
    lesson_ids = [lesson.id for lesson in lessons_of_groups(session, group_ids, first_date, last_date)]
    weeks = {iso_week(first_date + timedelta(days=offset)) for offset in range((last_date - first_date).days + 1)}
    week_match = [
        and_(lesson_plans.c.week_year == year, lesson_plans.c.week == week) for year, week in sorted(weeks)
    ]
    query = select(lesson_plans).where(
        or_(
            lesson_plans.c.lesson_id.in_(lesson_ids),
            and_(lesson_plans.c.group_id.in_(group_ids), or_(*week_match)),
        )
    )
    rows = session.execute(query.order_by(lesson_plans.c.week_year, lesson_plans.c.week, lesson_plans.c.created_at))
    return [describe_plan(row) for row in rows]


def plans_for_child(session: Session, directory, person_id: str, child_person_id: str, first, last) -> list[dict]:
    """Return the plans of a child's groups, for the child and the guardians with custody."""
    context = child_visible_to(directory, person_id, child_person_id)
    group_ids = groups_with_feature(directory, context, "lesson_plans", "lesson_plans_disabled")
    first_date, last_date = parsing.period(first, last, max_days=62)
    return plans_of_groups(session, group_ids, first_date, last_date)


def plans_for_group(session: Session, directory, person_id: str, group_id: str, first, last) -> list[dict]:
    """Return a group's plans for staff with a duty at the group's unit, whatever the feature switch."""
    staff_group(directory, person_id, group_id)
    first_date, last_date = parsing.period(first, last, max_days=62)
    return plans_of_groups(session, [group_id], first_date, last_date)
