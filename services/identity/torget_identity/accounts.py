"""Accounts: applying and logging in with BankID, and the roles the school directory gives.

A person gets an account only when the directory names them guardian of a
child placed in one of the municipality's units, or gives them a duty at a
unit. The roles are read again at every BankID login, so a guardianship or
duty that ended also ends the role.
"""

import logging
import uuid

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from torget_identity import logins
from torget_identity.errors import Forbidden, NotFound
from torget_identity.models import ACTIVE, DISABLED, LOGIN_BANKID, accounts
from torget_identity.ports import Ports
from torget_identity.sessions import start_session
from torget_identity.settings import IdentitySettings
from torget_shared.caller import ASSURANCE_BANKID
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

GUARDIAN = "guardian"
STAFF = "staff"
PRINCIPAL = "principal"
ADMINISTRATOR = "administrator"


def roles_from_directory(person: dict, settings: IdentitySettings) -> list[str]:
    """Return the account roles that the directory's ``person_roles`` result grants."""
    roles = []
    if person.get("guardian_of"):
        roles.append(GUARDIAN)
    duty_roles = {duty.get("duty_role") for duty in person.get("duties") or []}
    if duty_roles:
        roles.append(STAFF)
    if "Rektor" in duty_roles:
        roles.append(PRINCIPAL)
    if duty_roles & set(settings.administrator_duty_roles):
        roles.append(ADMINISTRATOR)
    return roles


def account_by_personal_number(session: Session, ports: Ports, personal_number: str, lock: bool = False):
    query = select(accounts).where(
        accounts.c.personal_number_hash == ports.protector.personal_number_hash(personal_number)
    )
    return session.execute(query.with_for_update() if lock else query).first()


def _directory_values(person: dict, identity: dict, roles: list[str]) -> dict:
    return {
        "person_id": person.get("person_id"),
        "given_name": person.get("given_name") or identity["given_name"],
        "family_name": person.get("family_name") or identity["family_name"],
        "roles": roles,
        "duties": [{"unit_id": duty["unit_id"], "duty_role": duty["duty_role"]} for duty in person.get("duties") or []],
        "protected_identity": bool(person.get("protected_identity")),
    }


def _create_account(session: Session, ports: Ports, identity: dict, values: dict):
    """Insert the account, or return the one a concurrent login inserted first."""
    now = utcnow()
    account_id = str(uuid.uuid4())
    try:
        with session.begin_nested():
            session.execute(
                insert(accounts).values(
                    id=account_id,
                    personal_number_hash=ports.protector.personal_number_hash(identity["personal_number"]),
                    personal_number_encrypted=ports.protector.encrypt_personal_number(identity["personal_number"]),
                    login_method=LOGIN_BANKID,
                    status=ACTIVE,
                    failed_password_attempts=0,
                    language="sv",
                    notify_email=True,
                    notify_sms=False,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
    except IntegrityError:
        # Another login of the same person created the account first; the
        # unique personal number hash keeps it to one account.
        log.info("account created concurrently; using the existing one")
        return account_by_personal_number(session, ports, identity["personal_number"]), False

    ports.publish(
        session,
        "account_created",
        {
            "account_id": account_id,
            "person_id": values["person_id"],
            "roles": values["roles"],
            "login_method": LOGIN_BANKID,
            "protected_identity": values["protected_identity"],
            "created_at": now.isoformat(),
        },
    )
    log.info("account created", extra={"account_id": account_id, "roles": values["roles"]})
    return session.execute(select(accounts).where(accounts.c.id == account_id)).one(), True


def _link_account_of_person(session: Session, ports: Ports, person_id: str, personal_number: str):
    """Give the account that staff created for this person its personal number, so BankID finds it.

    Returns the account, or None when the person has no account yet.
    """
    account = session.execute(
        select(accounts).where(accounts.c.person_id == person_id, accounts.c.personal_number_hash.is_(None)).with_for_update()
    ).first()
    if account is None:
        return None
    session.execute(
        update(accounts)
        .where(accounts.c.id == account.id)
        .values(
            personal_number_hash=ports.protector.personal_number_hash(personal_number),
            personal_number_encrypted=ports.protector.encrypt_personal_number(personal_number),
        )
    )
    log.info("BankID linked to an account created by staff", extra={"account_id": account.id})
    return session.execute(select(accounts).where(accounts.c.id == account.id)).one()


def login_with_bankid(ports: Ports, order_ref: str, *, apply: bool, language: str = "sv") -> dict:
    """Log in with a completed BankID order; with ``apply``, create the account when there is none.

    Returns the session's tokens and ``account_created``. Raises no_account
    (without ``apply``), not_eligible, account_disabled or access_ended.
    """
    identity = logins.completed_identity(ports, order_ref, language)
    person = ports.directory.person_roles(identity["personal_number"])
    roles = roles_from_directory(person, ports.settings)

    with ports.db.transaction() as session:
        logins.consume_order(session, order_ref)
        account = account_by_personal_number(session, ports, identity["personal_number"], lock=True)
        if account is None and person.get("person_id"):
            account = _link_account_of_person(session, ports, person["person_id"], identity["personal_number"])

        if account is None and not apply:
            log.info("BankID login without an account", extra={"order_ref": order_ref})
            raise NotFound("no_account")
        if not roles:
            log.info("BankID login rejected: no guardianship or duty", extra={"order_ref": order_ref})
            raise Forbidden("not_eligible")
        if account is not None and account.status == DISABLED:
            log.info("BankID login rejected: account disabled", extra={"account_id": account.id})
            raise Forbidden("account_disabled")

        values = _directory_values(person, identity, roles)
        created = False
        if account is None:
            account, created = _create_account(session, ports, identity, values)
        if not created:
            # BankID proves the person, so an account still waiting for its activation code is active from now.
            session.execute(
                update(accounts).where(accounts.c.id == account.id).values(status=ACTIVE, updated_at=utcnow(), **values)
            )
            account = session.execute(select(accounts).where(accounts.c.id == account.id)).one()

        tokens = start_session(session, ports.protector, ports.settings, account, ASSURANCE_BANKID)
    tokens["account_created"] = created
    return tokens
