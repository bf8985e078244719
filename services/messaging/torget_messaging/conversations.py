"""Conversations: threads about one child between guardians and staff.

A conversation belongs to a child and to a unit where the child is placed.
A guardian with custody starts one with staff who have a duty at that unit.
Staff start one with the child's guardians and may add colleagues of the
unit. Only the participants read and write it, and anyone else gets the
same "not found" as for an id that does not exist.

Messages are numbered within their conversation. Each participant keeps the
number of the last message they read, so unread counts are a subtraction.
The author of a message has read it.

A participant with protected identity is shown to the others without a
name, and guardians do not see that participant's person id either: what a
guardian learns of the other participants must not help them find someone
who is protected. Contact details are never shown.
"""

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from torget_messaging import ledger, read_model
from torget_messaging.errors import Conflict, InvalidRequest, NotFound
from torget_messaging.models import conversation, conversation_message, conversation_participant
from torget_messaging.notices import add_email_notice
from torget_messaging.texts import NoticeTexts
from torget_messaging.validation import text
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

GUARDIAN = "guardian"
STAFF = "staff"

SUBJECT_MAX_LENGTH = 200
BODY_MAX_LENGTH = 10_000
MAX_RECIPIENTS = 30
MESSAGES_MAX = 500


@dataclass(frozen=True)
class Scope:
    """The children in a person's custody and the units of their duties, which decide what they may see now.

    A participant keeps a conversation only while the reason they joined it
    holds: a guardian while they have custody of the child, staff while they
    have a duty at the conversation's unit.
    """

    child_person_ids: frozenset[str]
    unit_ids: frozenset[str]

    def condition(self):
        return or_(
            and_(
                conversation_participant.c.role == GUARDIAN,
                conversation.c.child_person_id.in_(sorted(self.child_person_ids)),
            ),
            and_(conversation_participant.c.role == STAFF, conversation.c.unit_id.in_(sorted(self.unit_ids))),
        )


@dataclass(frozen=True)
class Opening:
    """A validated first message of a conversation, before the participants are checked."""

    child_person_id: str
    unit_id: str
    subject: str
    body: str
    recipient_person_ids: tuple[str, ...]


def _required_id(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("field_required", {"field": field})
    if "\x00" in value:
        raise InvalidRequest("nul_character", {"field": field})
    if len(value) > 64:
        raise InvalidRequest("field_too_long", {"field": field, "max_length": 64})
    return value.strip()


def validate_opening(child_person_id, unit_id, subject, body, recipient_person_ids) -> Opening:
    """Return the checked opening; raise InvalidRequest naming the first invalid field."""
    child_person_id = _required_id(child_person_id, "child_person_id")
    unit_id = _required_id(unit_id, "unit_id")
    subject = text(subject, "subject", SUBJECT_MAX_LENGTH)
    body = text(body, "body", BODY_MAX_LENGTH)
    if not isinstance(recipient_person_ids, list) or not recipient_person_ids:
        raise InvalidRequest("field_required", {"field": "recipient_person_ids"})
    if len(recipient_person_ids) > MAX_RECIPIENTS:
        raise InvalidRequest("too_many_recipients", {"field": "recipient_person_ids", "max_count": MAX_RECIPIENTS})
    recipients = []
    for index, recipient in enumerate(recipient_person_ids):
        recipient = _required_id(recipient, f"recipient_person_ids.{index}")
        if recipient not in recipients:
            recipients.append(recipient)
    return Opening(child_person_id, unit_id, subject, body, tuple(recipients))


def _conversation(session: Session, conversation_id: str):
    return session.execute(select(conversation).where(conversation.c.conversation_id == conversation_id)).first()


def _membership(session: Session, conversation_id: str, person_id: str, scope: Scope, lock: bool = False):
    """Return (conversation, participant) rows of a participant in scope; raise NotFound for anyone else."""
    query = (
        select(conversation, conversation_participant.c.role, conversation_participant.c.last_read_seq)
        .join(conversation_participant, conversation_participant.c.conversation_id == conversation.c.conversation_id)
        .where(
            conversation.c.conversation_id == conversation_id,
            conversation_participant.c.person_id == person_id,
            scope.condition(),
        )
    )
    if lock:
        query = query.with_for_update(of=conversation)
    row = session.execute(query).first()
    if row is None:
        raise _not_found(conversation_id)
    return row


def _not_found(conversation_id: str) -> NotFound:
    return NotFound("conversation_not_found", {"conversation_id": conversation_id})


def find_started(session: Session, conversation_id: str, person_id: str, opening: Opening):
    """Return the conversation already started with this id by this person, or None if the id is free.

    A client that repeats a start (after a timeout, say) sends the same id and
    gets the first conversation back instead of a second one. The id used
    by someone else, or for another child, unit, subject or first message,
    is a conflict: the client would otherwise believe its new text was sent.
    """
    row = _conversation(session, conversation_id)
    if row is None:
        return None
    first_body = session.execute(
        select(conversation_message.c.body).where(
            conversation_message.c.conversation_id == conversation_id, conversation_message.c.seq == 1
        )
    ).scalar_one_or_none()
    same = (row.started_by_person_id, row.child_person_id, row.unit_id, row.subject, first_body) == (
        person_id,
        opening.child_person_id,
        opening.unit_id,
        opening.subject,
        opening.body,
    )
    if not same:
        raise Conflict("conversation_id_in_use", {"conversation_id": conversation_id})
    return row


def start(
    session: Session,
    conversation_id: str,
    opening: Opening,
    starter_person_id: str,
    participants: dict[str, str],
) -> str:
    """Store the conversation, its participants ({person id: role}) and its first message; return the message's id."""
    now = utcnow()
    message_id = str(uuid.uuid4())
    session.execute(
        insert(conversation).values(
            conversation_id=conversation_id,
            child_person_id=opening.child_person_id,
            unit_id=opening.unit_id,
            subject=opening.subject,
            started_by_person_id=starter_person_id,
            message_count=1,
            created_at=now,
            last_message_at=now,
        )
    )
    session.execute(
        insert(conversation_participant),
        [
            {
                "conversation_id": conversation_id,
                "person_id": person_id,
                "role": role,
                "last_read_seq": 1 if person_id == starter_person_id else 0,
                "added_at": now,
            }
            for person_id, role in participants.items()
        ],
    )
    session.execute(
        insert(conversation_message).values(
            message_id=message_id,
            conversation_id=conversation_id,
            seq=1,
            author_person_id=starter_person_id,
            body=opening.body,
            sent_at=now,
        )
    )
    log.info(
        "conversation started with %d participants",
        len(participants),
        extra={"conversation_id": conversation_id, "unit_id": opening.unit_id},
    )
    return message_id


def reply(session: Session, conversation_id: str, person_id: str, scope: Scope, body: str, message_id: str) -> tuple[dict, bool]:
    """Add a message by a participant; return it and whether it is new.

    A repeated ``message_id`` by the same author returns the first message.
    The conversation row is locked while the next number is taken, so two
    replies at once get two numbers.
    """
    row = _membership(session, conversation_id, person_id, scope, lock=True)

    existing = session.execute(select(conversation_message).where(conversation_message.c.message_id == message_id)).first()
    if existing is not None:
        if (existing.author_person_id, existing.conversation_id, existing.body) != (person_id, conversation_id, body):
            raise Conflict("message_id_in_use", {"message_id": message_id})
        return _message_row(existing), False

    now = utcnow()
    seq = row.message_count + 1
    session.execute(
        insert(conversation_message).values(
            message_id=message_id,
            conversation_id=conversation_id,
            seq=seq,
            author_person_id=person_id,
            body=body,
            sent_at=now,
        )
    )
    session.execute(
        update(conversation)
        .where(conversation.c.conversation_id == conversation_id)
        .values(message_count=seq, last_message_at=now)
    )
    session.execute(
        update(conversation_participant)
        .where(
            conversation_participant.c.conversation_id == conversation_id,
            conversation_participant.c.person_id == person_id,
        )
        .values(last_read_seq=seq)
    )
    message = session.execute(select(conversation_message).where(conversation_message.c.message_id == message_id)).one()
    return _message_row(message), True


def _message_row(row) -> dict:
    return {
        "message_id": row.message_id,
        "conversation_id": row.conversation_id,
        "seq": row.seq,
        "author_person_id": row.author_person_id,
        "body": row.body,
        "sent_at": row.sent_at.isoformat(),
    }


def mark_read(session: Session, conversation_id: str, person_id: str, scope: Scope) -> dict:
    """Mark every message of the conversation read by the participant; return the new state."""
    row = _membership(session, conversation_id, person_id, scope)
    session.execute(
        update(conversation_participant)
        .where(
            conversation_participant.c.conversation_id == conversation_id,
            conversation_participant.c.person_id == person_id,
            conversation_participant.c.last_read_seq < row.message_count,
        )
        .values(last_read_seq=row.message_count)
    )
    return {"conversation_id": conversation_id, "unread_count": 0, "last_read_seq": row.message_count}


class People:
    """Names and protection of the participants, and how each is shown to one viewer."""

    def __init__(self, session: Session, person_ids: list[str], viewer_person_id: str):
        self.known = read_model.display_people(session, sorted(set(person_ids)))
        self.viewer_person_id = viewer_person_id

    def show(self, person_id: str, role: str, viewer_role: str) -> dict:
        given_name, family_name, protected = self.known.get(person_id, (None, None, False))
        mine = person_id == self.viewer_person_id
        hidden = protected and not mine
        name = None
        if not hidden and given_name is not None:
            name = " ".join(part for part in (given_name, family_name) if part)
        return {
            # Guardians learn no id of a protected participant; staff need it to find the person in the directory.
            "person_id": None if hidden and viewer_role == GUARDIAN else person_id,
            "role": role,
            "name": name,
            "protected_identity": bool(protected),
            "is_me": mine,
        }


def _participants(session: Session, conversation_ids: list[str]) -> dict[str, list]:
    rows = session.execute(
        select(conversation_participant)
        .where(conversation_participant.c.conversation_id.in_(conversation_ids))
        .order_by(conversation_participant.c.role, conversation_participant.c.person_id)
    ).all()
    by_conversation: dict[str, list] = {}
    for row in rows:
        by_conversation.setdefault(row.conversation_id, []).append(row)
    return by_conversation


def _summary(row, participants: list, people: People) -> dict:
    return {
        "conversation_id": row.conversation_id,
        "child_person_id": row.child_person_id,
        "unit_id": row.unit_id,
        "subject": row.subject,
        "created_at": row.created_at.isoformat(),
        "last_message_at": row.last_message_at.isoformat(),
        "message_count": row.message_count,
        "unread_count": max(0, row.message_count - row.last_read_seq),
        "my_role": row.role,
        "participants": [people.show(participant.person_id, participant.role, row.role) for participant in participants],
    }


def conversations_of(session: Session, person_id: str, scope: Scope, limit: int = 50) -> list[dict]:
    """Return the person's conversations, the most recently active first, with unread counts."""
    rows = session.execute(
        select(conversation, conversation_participant.c.role, conversation_participant.c.last_read_seq)
        .join(
            conversation_participant,
            and_(
                conversation_participant.c.conversation_id == conversation.c.conversation_id,
                conversation_participant.c.person_id == person_id,
            ),
        )
        .where(scope.condition())
        .order_by(conversation.c.last_message_at.desc(), conversation.c.conversation_id)
        .limit(max(1, min(int(limit), 200)))
    ).all()
    participants = _participants(session, [row.conversation_id for row in rows])
    people = People(session, [p.person_id for ps in participants.values() for p in ps], person_id)
    return [_summary(row, participants.get(row.conversation_id, []), people) for row in rows]


def conversation_view(session: Session, conversation_id: str, person_id: str, scope: Scope) -> dict:
    """Return a conversation with its messages, oldest first, as shown to the participant; raise NotFound for anyone else."""
    row = _membership(session, conversation_id, person_id, scope)

    participants = _participants(session, [conversation_id]).get(conversation_id, [])
    roles = {participant.person_id: participant.role for participant in participants}
    people = People(session, list(roles), person_id)
    messages = session.execute(
        select(conversation_message)
        .where(conversation_message.c.conversation_id == conversation_id)
        .order_by(conversation_message.c.seq.desc())
        .limit(MESSAGES_MAX)
    ).all()
    view = _summary(row, participants, people)
    view["messages"] = [
        {
            "message_id": message.message_id,
            "seq": message.seq,
            "author": people.show(message.author_person_id, roles.get(message.author_person_id, STAFF), row.role),
            "body": message.body,
            "sent_at": message.sent_at.isoformat(),
            "read": message.seq <= row.last_read_seq,
        }
        for message in reversed(messages)
    ]
    return view


def unread_summary(session: Session, person_id: str, scope: Scope) -> dict:
    """Return how many of the person's conversations have unread messages, and how many messages that is."""
    unread = conversation.c.message_count - conversation_participant.c.last_read_seq
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(unread), 0))
        .select_from(conversation_participant)
        .join(conversation, conversation.c.conversation_id == conversation_participant.c.conversation_id)
        .where(conversation_participant.c.person_id == person_id, unread > 0, scope.condition())
    ).one()
    return {"unread_conversations": int(row[0]), "unread_messages": int(row[1])}


def notify_guardians(
    session: Session, conversation_id: str, message_id: str, author_person_id: str, texts: NoticeTexts, public_url: str
) -> list[str]:
    """Store an e-mail notice of a new message to each guardian of the conversation but the author; return those to send.

    The e-mail links to the conversation but carries neither the message
    nor the subject, because both are written by people and may concern a
    child, and e-mail leaves Torget. The ledger's key is
    (message id, guardian, ``email``), so a retried reply sends nothing twice.
    """
    guardian_ids = session.execute(
        select(conversation_participant.c.person_id).where(
            conversation_participant.c.conversation_id == conversation_id,
            conversation_participant.c.role == GUARDIAN,
            conversation_participant.c.person_id != author_person_id,
        )
    ).scalars()
    context = {"conversation_url": f"{public_url}/conversations/{conversation_id}"}
    to_send = []
    for guardian_id in guardian_ids:
        recipient = read_model.contact_of(session, guardian_id)
        delivery_id = add_email_notice(session, texts, ledger.CONVERSATION_NOTICE, message_id, recipient, context)
        if delivery_id is not None:
            to_send.append(delivery_id)
    return to_send
