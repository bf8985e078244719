"""What the attendance service needs from the school directory, asked by RPC and remembered.

Each answer of the directory is stored in ``directory_answers``. A stored
answer younger than ``max_age`` seconds is used without asking again. When the
directory does not respond in time, is not running, or fails, an older stored
answer is used, so attendance keeps working while the directory is down. Only
a question never answered before then fails, with DirectoryUnavailable.

The directory's RPCs (callable by services only) and the answers used here:

- ``child_context(child_person_id)``: ``{"child_person_id", "unit_id",
  "school_form", "group_ids": [...], "guardians": [{"person_id", "custody"}]}``,
  or None for an unknown child;
- ``unit_features(unit_id)``: ``{"absence_reporting": bool, "schedule": bool,
  "lesson_plans": bool, ...}``;
- ``group_roster(group_id)``: ``{"group_id", "unit_id", "pupil_person_ids": [...],
  "mentor_person_ids": [...]}``, or None for an unknown group;
- ``staff_duties(person_id)``: ``[{"unit_id", "duty_role", "mentor_group_ids": [...]}]``.
"""

import logging
from datetime import timedelta

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


class NoAnswer(Exception):
    """The directory did not answer a question."""


class DirectoryReader:
    """Asks the school directory and remembers its answers in the caller's transaction."""

    def __init__(self, session: Session, rpc_proxy, max_age: float = DEFAULT_MAX_AGE, timeout: float = DEFAULT_TIMEOUT):
        self.session = session
        self.rpc_proxy = rpc_proxy
        self.max_age = timedelta(seconds=max_age)
        self.timeout = timeout
        self._answers: dict[tuple[str, str], object] = {}

    def child_context(self, child_person_id: str) -> dict | None:
        return self._ask("child_context", child_person_id)

    def unit_features(self, unit_id: str) -> dict:
        return self._ask("unit_features", unit_id) or dict(UNKNOWN_UNIT_FEATURES)

    def group_roster(self, group_id: str) -> dict | None:
        return self._ask("group_roster", group_id)

    def staff_duties(self, person_id: str) -> list[dict]:
        return self._ask("staff_duties", person_id) or []

    def _ask(self, question: str, subject_id: str):
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
            answer = self._ask_directory(question, subject_id, stored)

        self._answers[key] = answer
        return answer

    def _ask_directory(self, question: str, subject_id: str, stored):
        try:
            answer = self._call(question, subject_id)
        except NoAnswer as exc:
            if stored is None:
                log.error("the school directory gave no answer to %s and none is stored: %s", question, exc)
                raise DirectoryUnavailable("directory_unavailable") from exc
            log.warning(
                "the school directory gave no answer to %s; using the answer stored at %s: %s",
                question,
                stored.fetched_at.isoformat(),
                exc,
            )
            return stored.answer["value"]

        store_answer(self.session, question, subject_id, answer)
        return answer

    def _call(self, question: str, subject_id: str):
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
            raise NoAnswer(f"the directory raised {exc.exc_type}") from exc
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
