"""Announcements from staff to a school unit, a group, or the guardians of a group.

An announcement reaches a guardian through their children: a unit-wide one
reaches the guardians of every child placed at the unit or in one of its
groups, the two group audiences the guardians of the group's members. The
title and body are the Swedish original. Staff may add translations, and a
guardian reads the one in their language, or the Swedish original when
there is none.

Guardians who turned e-mail notices on get one e-mail per announcement
through the delivery ledger, keyed by (announcement id, guardian,
``email``), so a guardian with two children in the audience gets one.
"""

import logging
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from torget_messaging import ledger, read_model
from torget_messaging.errors import Conflict, InvalidRequest, NotFound
from torget_messaging.models import announcement, announcement_read, announcement_translation
from torget_messaging.notices import add_email_notice
from torget_messaging.texts import DEFAULT_LANGUAGE, NoticeTexts, normalize_language
from torget_messaging.validation import text
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

UNIT = "unit"
GROUP = "group"
GROUP_GUARDIANS = "group_guardians"
AUDIENCES = (UNIT, GROUP, GROUP_GUARDIANS)

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 10_000
# An ISO 639 language code, optionally with a region (sv, en, ar, so, en-GB).
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")

NO_EMAIL = "the guardian has no verified e-mail address"
EMAIL_TURNED_OFF = "the guardian turned e-mail notices off"


@dataclass(frozen=True)
class Draft:
    """A validated announcement before it is stored."""

    unit_id: str
    audience: str
    group_id: str | None
    title: str
    body: str
    translations: dict[str, tuple[str, str]]


def validate_draft(unit_id, audience, group_id, title, body, translations) -> Draft:
    """Return the checked announcement; raise InvalidRequest naming the first invalid field."""
    if not isinstance(unit_id, str) or not unit_id:
        raise InvalidRequest("field_required", {"field": "unit_id"})
    if audience not in AUDIENCES:
        raise InvalidRequest("invalid_audience", {"field": "audience", "allowed": ", ".join(AUDIENCES)})
    if audience == UNIT:
        group_id = None
    elif not isinstance(group_id, str) or not group_id:
        raise InvalidRequest("field_required", {"field": "group_id"})

    checked = {}
    for language, translation in (translations or {}).items():
        if not isinstance(language, str) or not LANGUAGE_PATTERN.match(language):
            raise InvalidRequest("invalid_language", {"field": "translations", "language": str(language)})
        if not isinstance(translation, dict):
            raise InvalidRequest("field_required", {"field": f"translations.{language}"})
        code = normalize_language(language)
        if code == DEFAULT_LANGUAGE:
            # The title and body are the Swedish text; a second one would never be shown.
            raise InvalidRequest("swedish_translation", {"field": f"translations.{language}"})
        checked[code] = (
            text(translation.get("title"), f"translations.{language}.title", TITLE_MAX_LENGTH),
            text(translation.get("body"), f"translations.{language}.body", BODY_MAX_LENGTH),
        )

    return Draft(
        unit_id=unit_id,
        audience=audience,
        group_id=group_id,
        title=text(title, "title", TITLE_MAX_LENGTH),
        body=text(body, "body", BODY_MAX_LENGTH),
        translations=checked,
    )


def check_announcement_id(announcement_id) -> str:
    try:
        return str(uuid.UUID(str(announcement_id)))
    except ValueError:
        raise InvalidRequest("invalid_announcement_id", {"field": "announcement_id"}) from None


def find_posted(session: Session, announcement_id: str, author_person_id: str):
    """Return the announcement already posted with this id by this author, or None if the id is free.

    A client that repeats a post (after a timeout, say) sends the same id, and
    gets the first announcement back instead of a second one and second e-mails.
    """
    row = session.execute(select(announcement).where(announcement.c.announcement_id == announcement_id)).first()
    if row is not None and row.author_person_id != author_person_id:
        raise Conflict("announcement_id_in_use", {"announcement_id": announcement_id})
    return row


def post(
    session: Session,
    draft: Draft,
    announcement_id: str,
    author_person_id: str,
    guardians: list[read_model.Guardian],
    texts: NoticeTexts,
    public_url: str,
) -> list[str]:
    """Store the announcement and one e-mail ledger row per guardian; return the rows to send."""
    session.execute(
        insert(announcement).values(
            announcement_id=announcement_id,
            unit_id=draft.unit_id,
            audience=draft.audience,
            group_id=draft.group_id,
            author_person_id=author_person_id,
            title=draft.title,
            body=draft.body,
            published_at=utcnow(),
        )
    )
    for language, (title, body) in draft.translations.items():
        session.execute(
            insert(announcement_translation).values(
                announcement_id=announcement_id, language=language, title=title, body=body
            )
        )

    to_send = []
    for guardian in _unique(guardians):
        delivery_id = _add_email(session, announcement_id, draft, guardian, texts, public_url)
        if delivery_id is not None:
            to_send.append(delivery_id)
    log.info(
        "announcement posted to %d guardians, %d by e-mail",
        len(_unique(guardians)),
        len(to_send),
        extra={"announcement_id": announcement_id, "unit_id": draft.unit_id},
    )
    return to_send


def _unique(guardians: list[read_model.Guardian]) -> list[read_model.Guardian]:
    return list({guardian.person_id: guardian for guardian in guardians}.values())


def _localized(draft: Draft, language: str) -> tuple[str, str]:
    return draft.translations.get(normalize_language(language), (draft.title, draft.body))


def _add_email(session, announcement_id, draft, guardian, texts, public_url) -> str | None:
    title, body = _localized(draft, guardian.language)
    context = {"title": title, "body": body, "announcement_url": f"{public_url}/announcements/{announcement_id}"}
    # The ledger's key: one e-mail per (announcement, guardian).
    return add_email_notice(
        session,
        texts,
        ledger.ANNOUNCEMENT_NOTICE,
        announcement_id,
        guardian,
        context,
        no_address=NO_EMAIL,
        turned_off=EMAIL_TURNED_OFF,
    )


def _reach_condition(unit_ids: set[str], group_ids: set[str]):
    return or_(
        and_(announcement.c.audience == UNIT, announcement.c.unit_id.in_(sorted(unit_ids))),
        and_(announcement.c.audience.in_((GROUP, GROUP_GUARDIANS)), announcement.c.group_id.in_(sorted(group_ids))),
    )


def _translations(session: Session, announcement_ids: list[str]) -> dict[str, dict[str, tuple[str, str]]]:
    rows = session.execute(
        select(announcement_translation).where(announcement_translation.c.announcement_id.in_(announcement_ids))
    ).all()
    by_announcement: dict[str, dict[str, tuple[str, str]]] = {}
    for row in rows:
        by_announcement.setdefault(row.announcement_id, {})[row.language] = (row.title, row.body)
    return by_announcement


def _summary(row) -> dict:
    return {
        "announcement_id": row.announcement_id,
        "unit_id": row.unit_id,
        "audience": row.audience,
        "group_id": row.group_id,
        "published_at": row.published_at.isoformat(),
    }


def announcements_for_guardian(
    session: Session, guardian_person_id: str, unit_ids: set[str], group_ids: set[str], language: str, limit: int = 50
) -> list[dict]:
    """Return the announcements that reach the guardian, newest first, each in ``language`` or Swedish."""
    rows = session.execute(
        select(announcement, announcement_read.c.read_at)
        .outerjoin(
            announcement_read,
            and_(
                announcement_read.c.announcement_id == announcement.c.announcement_id,
                announcement_read.c.guardian_person_id == guardian_person_id,
            ),
        )
        .where(_reach_condition(unit_ids, group_ids))
        .order_by(announcement.c.published_at.desc(), announcement.c.announcement_id)
        .limit(max(1, min(int(limit), 200)))
    ).all()
    translations = _translations(session, [row.announcement_id for row in rows])
    language = normalize_language(language)

    result = []
    for row in rows:
        title, body = translations.get(row.announcement_id, {}).get(language, (row.title, row.body))
        shown_language = language if language in translations.get(row.announcement_id, {}) else DEFAULT_LANGUAGE
        result.append(
            {
                **_summary(row),
                "title": title,
                "body": body,
                "language": shown_language,
                "read_at": row.read_at.isoformat() if row.read_at else None,
            }
        )
    return result


def mark_read(session: Session, announcement_id: str, guardian_person_id: str, unit_ids: set[str], group_ids: set[str]) -> dict:
    """Record the guardian's first reading; raise NotFound unless the announcement reaches them."""
    row = session.execute(
        select(announcement.c.announcement_id).where(
            announcement.c.announcement_id == announcement_id, _reach_condition(unit_ids, group_ids)
        )
    ).first()
    if row is None:
        raise NotFound("announcement_not_found", {"announcement_id": announcement_id})

    existing = _read_at(session, announcement_id, guardian_person_id)
    if existing is None:
        _insert_read(session, announcement_id, guardian_person_id)
        existing = _read_at(session, announcement_id, guardian_person_id)
    return {"announcement_id": announcement_id, "read_at": existing.isoformat()}


def _read_at(session: Session, announcement_id: str, guardian_person_id: str):
    return session.execute(
        select(announcement_read.c.read_at).where(
            announcement_read.c.announcement_id == announcement_id,
            announcement_read.c.guardian_person_id == guardian_person_id,
        )
    ).scalar_one_or_none()


def _insert_read(session: Session, announcement_id: str, guardian_person_id: str) -> None:
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # Two concurrent marks of one guardian: the first time stays.
    session.execute(
        module.insert(announcement_read)
        .values(announcement_id=announcement_id, guardian_person_id=guardian_person_id, read_at=utcnow())
        .on_conflict_do_nothing()
    )


def unit_of(session: Session, announcement_id: str) -> str:
    """Return the unit of an announcement; raise NotFound for an unknown id."""
    unit_id = session.execute(
        select(announcement.c.unit_id).where(announcement.c.announcement_id == announcement_id)
    ).scalar_one_or_none()
    if unit_id is None:
        raise NotFound("announcement_not_found", {"announcement_id": announcement_id})
    return unit_id


def _staff_rows(session: Session, condition, limit: int) -> list[dict]:
    read_counts = (
        select(announcement_read.c.announcement_id, func.count().label("read_count"))
        .group_by(announcement_read.c.announcement_id)
        .subquery()
    )
    rows = session.execute(
        select(announcement, read_counts.c.read_count)
        .outerjoin(read_counts, read_counts.c.announcement_id == announcement.c.announcement_id)
        .where(condition)
        .order_by(announcement.c.published_at.desc(), announcement.c.announcement_id)
        .limit(limit)
    ).all()
    translations = _translations(session, [row.announcement_id for row in rows])
    return [
        {
            **_summary(row),
            "author_person_id": row.author_person_id,
            "title": row.title,
            "body": row.body,
            "translations": {
                language: {"title": title, "body": body}
                for language, (title, body) in sorted(translations.get(row.announcement_id, {}).items())
            },
            "read_count": row.read_count or 0,
        }
        for row in rows
    ]


def announcements_of_unit(session: Session, unit_id: str, limit: int = 100) -> list[dict]:
    """Return a unit's announcements for its staff, newest first, with translations and read counts."""
    return _staff_rows(session, announcement.c.unit_id == unit_id, max(1, min(int(limit), 500)))


def staff_view(session: Session, announcement_id: str) -> dict:
    """Return one announcement as its unit's staff see it."""
    [view] = _staff_rows(session, announcement.c.announcement_id == announcement_id, 1)
    return view


def reads_of(session: Session, announcement_id: str) -> dict:
    """Return who read an announcement and when; a guardian with protected identity is shown without a name."""
    rows = session.execute(
        select(announcement_read)
        .where(announcement_read.c.announcement_id == announcement_id)
        .order_by(announcement_read.c.read_at, announcement_read.c.guardian_person_id)
    ).all()
    names = read_model.person_names(session, [row.guardian_person_id for row in rows])
    readers = []
    for row in rows:
        given_name, family_name, protected = names.get(row.guardian_person_id, (None, None, False))
        name = None
        if not protected and given_name is not None:
            name = " ".join(part for part in (given_name, family_name) if part)
        readers.append(
            {
                "guardian_person_id": row.guardian_person_id,
                "name": name,
                "protected_identity": protected,
                "read_at": row.read_at.isoformat(),
            }
        )
    return {"announcement_id": announcement_id, "read_count": len(readers), "readers": readers}
