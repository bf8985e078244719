"""The local read model of guardians, children and units, fed by identity and directory events.

Each row keeps the ``occurred_at`` of the event it reflects. Events of one
kind may arrive out of order (retries, two instances), so an event older
than the row is ignored: the newest state wins.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import Session

from torget_messaging.models import contact, guardianship, person, unit_feature

# SS 12000 RelationTypesEnum value of a guardian with custody.
CUSTODY_RELATION = "Vårdnadshavare"
# Used while the directory has not told us about a unit: SMS notices stay on,
# because an absence notice that never goes out is the worse mistake.
SMS_NOTICES_DEFAULT = True


@dataclass(frozen=True)
class Guardian:
    person_id: str
    given_name: str | None
    family_name: str | None
    email: str | None
    mobile: str | None
    language: str
    sms_enabled: bool
    email_enabled: bool
    protected_identity: bool


@dataclass(frozen=True)
class Child:
    person_id: str
    given_name: str | None
    family_name: str | None
    protected_identity: bool


def _upsert(session: Session, table, key: dict, values: dict, occurred_at: datetime) -> bool:
    """Insert or update the row at ``key`` unless it reflects a newer event; return whether it changed."""
    condition = and_(*(table.c[name] == value for name, value in key.items()))
    current = session.execute(select(table.c.source_occurred_at).where(condition).with_for_update()).first()
    if current is None:
        session.execute(insert(table).values(**key, **values, source_occurred_at=occurred_at))
        return True
    if current.source_occurred_at > occurred_at:
        return False
    session.execute(update(table).where(condition).values(**values, source_occurred_at=occurred_at))
    return True


def apply_contact_details(session: Session, payload: dict, occurred_at: datetime) -> bool:
    """Store an account's contact details; an account without a directory person is ignored."""
    if not payload.get("person_id"):
        return False
    preferences = payload.get("preferences") or {}
    return _upsert(
        session,
        contact,
        {"person_id": str(payload["person_id"])},
        {
            "account_id": str(payload["account_id"]),
            "email": payload.get("email"),
            "mobile": payload.get("mobile"),
            "language": payload.get("language") or "sv",
            "sms_enabled": bool(preferences.get("sms", True)),
            "email_enabled": bool(preferences.get("email", True)),
            "protected_identity": bool(payload.get("protected_identity", False)),
        },
        occurred_at,
    )


def apply_person(session: Session, payload: dict, occurred_at: datetime) -> bool:
    return _upsert(
        session,
        person,
        {"person_id": str(payload["person_id"])},
        {
            "given_name": None if payload.get("removed") else payload.get("given_name"),
            "family_name": None if payload.get("removed") else payload.get("family_name"),
            "protected_identity": bool(payload.get("protected_identity", False)),
        },
        occurred_at,
    )


def apply_guardianship(session: Session, payload: dict, occurred_at: datetime, active: bool) -> bool:
    return _upsert(
        session,
        guardianship,
        {"child_person_id": str(payload["child_person_id"]), "guardian_person_id": str(payload["guardian_person_id"])},
        {"custody": payload.get("relation_type") == CUSTODY_RELATION, "active": active},
        occurred_at,
    )


def apply_unit_features(session: Session, payload: dict, occurred_at: datetime) -> bool:
    features = payload.get("features") or {}
    return _upsert(
        session,
        unit_feature,
        {"unit_id": str(payload["unit_id"])},
        {
            "attendance_sms_notices": bool(features.get("attendance_sms_notices", False)),
            "announcements": bool(features.get("announcements", False)),
            "conversations": bool(features.get("conversations", False)),
        },
        occurred_at,
    )


def child(session: Session, child_person_id: str) -> Child:
    row = session.execute(select(person).where(person.c.person_id == child_person_id)).first()
    if row is None:
        return Child(child_person_id, None, None, False)
    return Child(child_person_id, row.given_name, row.family_name, row.protected_identity)


def guardians_with_custody(session: Session, child_person_id: str) -> list[Guardian]:
    """Return the child's current guardians with custody, with what is known of their contact details."""
    rows = session.execute(
        select(guardianship.c.guardian_person_id, person, contact)
        .select_from(guardianship)
        .outerjoin(person, person.c.person_id == guardianship.c.guardian_person_id)
        .outerjoin(contact, contact.c.person_id == guardianship.c.guardian_person_id)
        .where(
            guardianship.c.child_person_id == child_person_id,
            guardianship.c.active.is_(True),
            guardianship.c.custody.is_(True),
        )
        .order_by(guardianship.c.guardian_person_id)
    ).all()

    guardians = []
    for row in rows:
        mapping = row._mapping
        guardians.append(
            Guardian(
                person_id=row.guardian_person_id,
                given_name=mapping[person.c.given_name],
                family_name=mapping[person.c.family_name],
                email=mapping[contact.c.email],
                mobile=mapping[contact.c.mobile],
                language=mapping[contact.c.language] or "sv",
                sms_enabled=mapping[contact.c.sms_enabled] is not False,
                email_enabled=mapping[contact.c.email_enabled] is not False,
                protected_identity=bool(mapping[person.c.protected_identity] or mapping[contact.c.protected_identity]),
            )
        )
    return guardians


def contact_of(session: Session, person_id: str) -> Guardian:
    """Return what is known of a person's name, contact details and preferences; defaults for an unknown person."""
    row = session.execute(
        select(person.c.given_name, person.c.family_name, person.c.protected_identity.label("person_protected"), contact)
        .select_from(contact)
        .outerjoin(person, person.c.person_id == contact.c.person_id)
        .where(contact.c.person_id == person_id)
    ).first()
    if row is None:
        names = person_names(session, [person_id]).get(person_id, (None, None, False))
        return Guardian(person_id, names[0], names[1], None, None, "sv", True, True, names[2])
    return Guardian(
        person_id=person_id,
        given_name=row.given_name,
        family_name=row.family_name,
        email=row.email,
        mobile=row.mobile,
        language=row.language or "sv",
        sms_enabled=row.sms_enabled is not False,
        email_enabled=row.email_enabled is not False,
        protected_identity=bool(row.person_protected or row.protected_identity),
    )


def sms_notices_enabled(session: Session, unit_id: str) -> bool:
    enabled = session.execute(
        select(unit_feature.c.attendance_sms_notices).where(unit_feature.c.unit_id == unit_id)
    ).scalar_one_or_none()
    return SMS_NOTICES_DEFAULT if enabled is None else enabled


def feature_enabled(session: Session, unit_id: str, feature: str) -> bool:
    """Return whether the unit has ``announcements`` or ``conversations`` on; on while the directory has sent no switches for the unit."""
    enabled = session.execute(select(unit_feature.c[feature]).where(unit_feature.c.unit_id == unit_id)).scalar_one_or_none()
    return True if enabled is None else enabled


def person_names(session: Session, person_ids: list[str]) -> dict[str, tuple[str | None, str | None, bool]]:
    """Return {person id: (given name, family name, protected identity)} for the known ones."""
    if not person_ids:
        return {}
    rows = session.execute(select(person).where(person.c.person_id.in_(person_ids))).all()
    return {row.person_id: (row.given_name, row.family_name, row.protected_identity) for row in rows}


def display_people(session: Session, person_ids: list[str]) -> dict[str, tuple[str | None, str | None, bool]]:
    """Return {person id: (given name, family name, protected identity)}, protected when either source marks it.

    The directory marks protection on the person, identity on the account;
    a person known only from their account has no name here.
    """
    people = dict(person_names(session, person_ids))
    if person_ids:
        rows = session.execute(
            select(contact.c.person_id).where(contact.c.person_id.in_(person_ids), contact.c.protected_identity.is_(True))
        ).scalars()
        for person_id in rows:
            given_name, family_name, _ = people.get(person_id, (None, None, True))
            people[person_id] = (given_name, family_name, True)
    return people


def language_of(session: Session, person_id: str) -> str:
    """Return the language the person chose for notices, or Swedish while it is unknown."""
    language = session.execute(select(contact.c.language).where(contact.c.person_id == person_id)).scalar_one_or_none()
    return language or "sv"


def guardians_of_children(session: Session, child_person_ids: list[str]) -> list[Guardian]:
    """Return the guardians with custody of any of the children, each once."""
    guardians: dict[str, Guardian] = {}
    for child_person_id in child_person_ids:
        for guardian in guardians_with_custody(session, child_person_id):
            guardians.setdefault(guardian.person_id, guardian)
    return list(guardians.values())
