"""What the attendance service needs from the school directory, asked by RPC and remembered.

Each reply of the directory is stored in ``directory_answers``. A stored
reply younger than ``max_age`` seconds is used without asking again. When the
directory does not respond in time, is not running, or fails, an older stored
reply is used, so attendance keeps working while the directory is down. Only
a question never answered before then fails, with DirectoryUnavailable.

The directory's RPCs used here and the parts of their replies that count:

- ``child_context(child_person_id)`` (internal): ``{"child_person_id",
  "units": [{"unit_id"}], "groups": [{"group_id", "unit_id"}], "guardians":
  [{"person_id"}]}``, where ``guardians`` lists only those with custody; an
  unknown child raises NotFound;
- ``unit_features(unit_id)`` (internal): ``{"unit_id", "features": {name:
  bool}}``; an unknown unit raises NotFound and counts as every feature off;
- ``staff_assignments(person_id)``: ``{"person_id", "units": [{"unit_id",
  "duty_role", ...}], "groups": [{"group_id", "unit_id", ...}]}``, the
  person's current duties and the current groups of those units. It checks
  the caller, so attendance requests only the caller's own assignments;
- ``group_members(group_id)``: ``{"group_id", "unit_id", "members":
  [{"person_id"}]}``. It checks the caller too: staff with a duty at the
  group's unit get every member, anyone else NotFound or fewer members.

The replies are stored as the directory sent them and reshaped on reading,
so a stored reply and a fresh one read the same.
"""

import logging
from datetime import datetime, timedelta

import eventlet
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, UnknownService
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from torget_attendance.errors import DirectoryUnavailable
from torget_attendance.models import directory_answers
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

DIRECTORY_SERVICE = "school_directory"
DEFAULT_MAX_AGE = 60.0
DEFAULT_TIMEOUT = 3.0

# Feature switches of a unit the directory does not know: every feature off.
UNKNOWN_UNIT_FEATURES = {"absence_reporting": False, "schedule": False, "lesson_plans": False}

# The exception type name the directory raises for a missing object or one the caller may not see.
DIRECTORY_NOT_FOUND = "NotFound"


class NoAnswer(Exception):
    """The directory did not answer a question."""


def child_context_from_reply(reply: dict | None) -> dict | None:
    """Reshape a ``child_context`` reply into what the access checks read; None for an unknown child.

    ``unit_ids`` keeps the directory's order (oldest current placement
    first), and ``groups`` keeps each group's unit, so a child placed at two
    units is checked against each.
    """
    if not reply:
        return None
    unit_ids = [str(unit["unit_id"]) for unit in reply.get("units") or [] if unit.get("unit_id")]
    groups = [
        {"group_id": str(group["group_id"]), "unit_id": str(group.get("unit_id") or "")}
        for group in reply.get("groups") or []
        if group.get("group_id")
    ]
    return {
        "child_person_id": str(reply["child_person_id"]),
        "unit_ids": list(dict.fromkeys(unit_ids)),
        "groups": groups,
        "group_ids": list(dict.fromkeys(group["group_id"] for group in groups)),
        # The directory lists only guardians with custody; an explicit custody flag of False still excludes one.
        "guardian_person_ids": [
            str(guardian["person_id"])
            for guardian in reply.get("guardians") or []
            if guardian.get("person_id") and guardian.get("custody", True) is True
        ],
    }


def features_from_reply(reply: dict | None) -> dict:
    """Return the feature switches of a ``unit_features`` reply; every feature off for an unknown unit."""
    features = reply.get("features") if isinstance(reply, dict) else None
    if not isinstance(features, dict):
        return dict(UNKNOWN_UNIT_FEATURES)
    return {str(name): value is True for name, value in features.items()}


def assignments_from_reply(reply: dict | None) -> dict:
    """Reshape a ``staff_assignments`` reply into the person's duties and the groups of their units."""
    reply = reply if isinstance(reply, dict) else {}
    duties = [
        {"unit_id": str(unit["unit_id"]), "duty_role": unit.get("duty_role")}
        for unit in reply.get("units") or []
        if unit.get("unit_id")
    ]
    groups = {
        str(group["group_id"]): {"group_id": str(group["group_id"]), "unit_id": str(group["unit_id"])}
        for group in reply.get("groups") or []
        if group.get("group_id") and group.get("unit_id")
    }
    return {"duties": duties, "groups": groups}


def members_from_reply(reply: dict | None) -> dict | None:
    """Reshape a ``group_members`` reply into the group's unit and member ids; None for no such group."""
    if not reply:
        return None
    return {
        "group_id": str(reply["group_id"]),
        "unit_id": str(reply["unit_id"]),
        "member_person_ids": [str(member["person_id"]) for member in reply.get("members") or []],
    }


class DirectoryReader:
    """Asks the school directory and remembers its replies in the caller's transaction."""

    def __init__(self, session: Session, rpc_proxy, max_age: float = DEFAULT_MAX_AGE, timeout: float = DEFAULT_TIMEOUT):
        self.session = session
        self.rpc_proxy = rpc_proxy
        self.max_age = timedelta(seconds=max_age)
        self.timeout = timeout
        self._answers: dict[tuple[str, str], object] = {}

    def child_context(self, child_person_id: str) -> dict | None:
        return child_context_from_reply(self._ask("child_context", child_person_id))

    def unit_features(self, unit_id: str) -> dict:
        return features_from_reply(self._ask("unit_features", unit_id))

    def staff_assignments(self, person_id: str) -> dict:
        """Return ``{"duties": [{"unit_id", "duty_role"}], "groups": {group_id: {"group_id", "unit_id"}}}``.

        Pass only the calling person's id, because the directory returns a
        caller's own assignments alone.
        """
        return assignments_from_reply(self._ask("staff_assignments", person_id))

    def group_members(self, group_id: str) -> dict | None:
        """Return ``{"group_id", "unit_id", "member_person_ids"}``, or None when the caller may not see the group.

        The directory returns every member only to staff with a duty at the
        group's unit, and the reply is stored for every caller. So call this
        only after checking that the caller has a duty at the group's unit
        or teaches the group's lesson.
        """
        return members_from_reply(self._ask("group_members", group_id, store_not_found=False))

    def _ask(self, question: str, subject_id: str, *, store_not_found: bool = True):
        key = (question, subject_id)
        if key in self._answers:
            return self._answers[key]

        stored = self.session.execute(
            select(directory_answers.c.answer, directory_answers.c.fetched_at).where(
                directory_answers.c.question == question,
                directory_answers.c.subject_id == subject_id,
            )
        ).first()
        now = utcnow()
        if stored is not None and now - stored.fetched_at < self.max_age:
            answer = stored.answer["value"]
        else:
            answer = self._ask_directory(question, subject_id, stored, store_not_found)

        self._answers[key] = answer
        return answer

    def _ask_directory(self, question: str, subject_id: str, stored, store_not_found: bool):
        try:
            answer = self._call(question, subject_id)
        except NoAnswer as exc:
            if stored is None:
                log.error("the school directory did not respond to %s and no earlier reply is stored: %s", question, exc)
                raise DirectoryUnavailable("directory_unavailable") from exc
            log.warning(
                "the school directory did not respond to %s; using the reply stored at %s: %s",
                question,
                stored.fetched_at.isoformat(),
                exc,
            )
            return stored.answer["value"]

        if answer is not None or store_not_found:
            store_answer(self.session, question, subject_id, answer)
        return answer

    def _call(self, question: str, subject_id: str):
        """Return the directory's reply, or None when it raises NotFound; raise NoAnswer when it fails."""
        method = getattr(self.rpc_proxy, question)
        try:
            reply = method.call_async(subject_id)
            with eventlet.Timeout(self.timeout):
                return reply.result()
        except eventlet.Timeout as exc:
            raise NoAnswer(f"timed out after {self.timeout} s") from exc
        except UnknownService as exc:
            raise NoAnswer("no instance of the school directory is running") from exc
        except RemoteError as exc:
            if exc.exc_type == DIRECTORY_NOT_FOUND:
                return None
            raise NoAnswer(f"the directory raised {exc.exc_type}: {exc.value}") from exc
        except (OperationalError, ConnectionError, OSError) as exc:
            raise NoAnswer(f"the broker connection failed: {exc}") from exc


def store_answer(session: Session, question: str, subject_id: str, answer) -> None:
    """Insert or replace the stored answer; concurrent workers may store the same one."""
    values = {"question": question, "subject_id": subject_id, "answer": {"value": answer}, "fetched_at": utcnow()}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(directory_answers).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["question", "subject_id"],
        set_={"answer": statement.excluded.answer, "fetched_at": statement.excluded.fetched_at},
    )
    session.execute(statement)


def store_features_event(session: Session, payload: dict, occurred_at: datetime, now: datetime) -> None:
    """Store a ``unit_features_changed`` payload as the directory's reply about the unit's features.

    A reply fetched after the event occurred already has the change, and
    possibly a later one, so it is kept.
    """
    unit_id = str(payload["unit_id"])
    stored_at = session.execute(
        select(directory_answers.c.fetched_at).where(
            directory_answers.c.question == "unit_features",
            directory_answers.c.subject_id == unit_id,
        )
    ).scalar_one_or_none()
    if stored_at is not None and stored_at > occurred_at:
        return
    store_answer(session, "unit_features", unit_id, {"unit_id": unit_id, "features": dict(payload["features"])})
    log.info("stored the feature switches of unit %s from an event: %s changed", unit_id, ", ".join(payload["changed"]))
