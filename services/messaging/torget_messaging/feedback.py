"""Feedback: suggestions and complaints to the administration of a school unit.

Anyone with an account sends feedback to a unit of their own: a guardian to
a unit where one of their children is placed, staff to a unit where they
have a duty. The unit's administration (its principal, school
administrators and other managers with a duty there) lists and answers it.
The sender sees the answers; the sender also gets an e-mail with a link to
them when they have a verified address and e-mail notices on.

Feedback sent anonymously shows the administration no sender. The service
still knows who sent it, so the sender can read the answer.
"""

import logging

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from torget_messaging import ledger, read_model
from torget_messaging.conversations import BODY_MAX_LENGTH, SUBJECT_MAX_LENGTH
from torget_messaging.errors import Conflict, InvalidRequest, NotFound
from torget_messaging.models import feedback, feedback_answer
from torget_messaging.notices import add_email_notice
from torget_messaging.texts import NoticeTexts
from torget_messaging.validation import text
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

KINDS = ("suggestion", "complaint", "other")
STATES = ("received", "answered")
RECEIVED, ANSWERED = STATES
# The SS 12000 duty roles that make a person part of a unit's administration.
ADMINISTRATION_DUTY_ROLES = ("Rektor", "Förskolechef", "Skoladministratör", "Övrig arbetsledning")


def administration_unit_ids(assignments: dict | None) -> set[str]:
    """Return the units where a ``staff_assignments`` reply gives the person an administration duty."""
    return {
        str(duty["unit_id"])
        for duty in (assignments or {}).get("units") or []
        if duty.get("duty_role") in ADMINISTRATION_DUTY_ROLES
    }


def validate(kind, subject, body, anonymous) -> tuple[str, str, str, bool]:
    """Return the checked (kind, subject, body, anonymous); raise InvalidRequest naming the first invalid field."""
    if kind not in KINDS:
        raise InvalidRequest("invalid_choice", {"field": "kind", "allowed": ", ".join(KINDS)})
    if not isinstance(anonymous, bool):
        raise InvalidRequest("invalid_boolean", {"field": "anonymous"})
    return kind, text(subject, "subject", SUBJECT_MAX_LENGTH), text(body, "body", BODY_MAX_LENGTH), anonymous


def find_sent(session: Session, feedback_id: str, person_id: str, unit_id: str, checked: tuple[str, str, str, bool]):
    """Return the same feedback already sent with this id by this person, or None if the id is free.

    The id used by someone else, or for other content, is a conflict.
    """
    row = session.execute(select(feedback).where(feedback.c.feedback_id == feedback_id)).first()
    if row is not None and (row.author_person_id, row.unit_id, (row.kind, row.subject, row.body, row.anonymous)) != (
        person_id,
        unit_id,
        checked,
    ):
        raise Conflict("feedback_id_in_use", {"feedback_id": feedback_id})
    return row


def send(
    session: Session,
    feedback_id: str,
    unit_id: str,
    author_person_id: str,
    author_role: str,
    checked: tuple[str, str, str, bool],
) -> None:
    kind, subject, body, anonymous = checked
    session.execute(
        insert(feedback).values(
            feedback_id=feedback_id,
            unit_id=unit_id,
            author_person_id=author_person_id,
            author_role=author_role,
            anonymous=anonymous,
            kind=kind,
            subject=subject,
            body=body,
            state=RECEIVED,
            created_at=utcnow(),
        )
    )
    log.info("feedback received", extra={"feedback_id": feedback_id, "unit_id": unit_id})


def _answers(session: Session, feedback_ids: list[str]) -> dict[str, list]:
    rows = session.execute(
        select(feedback_answer)
        .where(feedback_answer.c.feedback_id.in_(feedback_ids))
        .order_by(feedback_answer.c.answered_at, feedback_answer.c.answer_id)
    ).all()
    by_feedback: dict[str, list] = {}
    for row in rows:
        by_feedback.setdefault(row.feedback_id, []).append(row)
    return by_feedback


def _name(people: dict, person_id: str) -> str | None:
    given_name, family_name, protected = people.get(person_id, (None, None, False))
    if protected or given_name is None:
        return None
    return " ".join(part for part in (given_name, family_name) if part)


def _view(row, answers: list, people: dict, for_administration: bool) -> dict:
    view = {
        "feedback_id": row.feedback_id,
        "unit_id": row.unit_id,
        "kind": row.kind,
        "subject": row.subject,
        "body": row.body,
        "anonymous": row.anonymous,
        "state": row.state,
        "created_at": row.created_at.isoformat(),
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "answers": [
            {
                "answer_id": answer.answer_id,
                "body": answer.body,
                "answered_at": answer.answered_at.isoformat(),
                "author_name": _name(people, answer.author_person_id),
            }
            for answer in answers
        ],
    }
    if for_administration:
        shown = not row.anonymous
        view["author"] = {
            "person_id": row.author_person_id if shown else None,
            "role": row.author_role if shown else None,
            "name": _name(people, row.author_person_id) if shown else None,
        }
    return view


def _views(session: Session, rows, for_administration: bool) -> list[dict]:
    answers = _answers(session, [row.feedback_id for row in rows])
    person_ids = [answer.author_person_id for group in answers.values() for answer in group]
    person_ids += [row.author_person_id for row in rows if not row.anonymous]
    people = read_model.display_people(session, sorted(set(person_ids)))
    return [_view(row, answers.get(row.feedback_id, []), people, for_administration) for row in rows]


def feedback_of_author(session: Session, person_id: str, limit: int = 50) -> list[dict]:
    """Return the feedback the person sent, newest first, with the administration's answers."""
    rows = session.execute(
        select(feedback)
        .where(feedback.c.author_person_id == person_id)
        .order_by(feedback.c.created_at.desc(), feedback.c.feedback_id)
        .limit(max(1, min(int(limit), 200)))
    ).all()
    return _views(session, rows, for_administration=False)


def sender_view(session: Session, feedback_id: str) -> dict:
    [view] = _views(session, session.execute(select(feedback).where(feedback.c.feedback_id == feedback_id)).all(), False)
    return view


def feedback_of_unit(session: Session, unit_id: str, state: str | None = None, limit: int = 200) -> list[dict]:
    """Return a unit's feedback for its administration, newest first; the sender only when not anonymous."""
    if state is not None and state not in STATES:
        raise InvalidRequest("invalid_choice", {"field": "state", "allowed": ", ".join(STATES)})
    query = select(feedback).where(feedback.c.unit_id == unit_id)
    if state is not None:
        query = query.where(feedback.c.state == state)
    rows = session.execute(
        query.order_by(feedback.c.created_at.desc(), feedback.c.feedback_id).limit(max(1, min(int(limit), 500)))
    ).all()
    return _views(session, rows, for_administration=True)


def unit_of(session: Session, feedback_id: str) -> str | None:
    return session.execute(select(feedback.c.unit_id).where(feedback.c.feedback_id == feedback_id)).scalar_one_or_none()


def answer(
    session: Session,
    feedback_id: str,
    author_person_id: str,
    body: str,
    answer_id: str,
    texts: NoticeTexts,
    public_url: str,
) -> tuple[dict, str | None]:
    """Store an answer and its e-mail to the sender; return the feedback as the administration sees it and the e-mail's delivery id.

    A repeated ``answer_id`` by the same person stores nothing new.
    """
    row = session.execute(select(feedback).where(feedback.c.feedback_id == feedback_id).with_for_update()).first()
    if row is None:
        raise NotFound("feedback_not_found", {"feedback_id": feedback_id})

    existing = session.execute(select(feedback_answer).where(feedback_answer.c.answer_id == answer_id)).first()
    delivery_id = None
    if existing is not None:
        if (existing.author_person_id, existing.feedback_id, existing.body) != (author_person_id, feedback_id, body):
            raise Conflict("answer_id_in_use", {"answer_id": answer_id})
    else:
        now = utcnow()
        session.execute(
            insert(feedback_answer).values(
                answer_id=answer_id, feedback_id=feedback_id, author_person_id=author_person_id, body=body, answered_at=now
            )
        )
        session.execute(
            update(feedback).where(feedback.c.feedback_id == feedback_id).values(state=ANSWERED, answered_at=now)
        )
        delivery_id = _add_email(session, row, answer_id, texts, public_url)

    [view] = _views(session, session.execute(select(feedback).where(feedback.c.feedback_id == feedback_id)).all(), True)
    return view, delivery_id


def _add_email(session: Session, row, answer_id: str, texts: NoticeTexts, public_url: str) -> str | None:
    # The link only, because the subject may concern a child and e-mail leaves Torget.
    context = {"feedback_url": f"{public_url}/feedback/{row.feedback_id}"}
    recipient = read_model.contact_of(session, row.author_person_id)
    # One e-mail per answer.
    return add_email_notice(session, texts, ledger.FEEDBACK_ANSWER_NOTICE, answer_id, recipient, context)
