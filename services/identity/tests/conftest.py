"""Fixtures of the identity tests: the BankID test server, the directory double and the service."""

import os
import sys

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy.orm import sessionmaker

# The helpers and the directory double sit beside this file; pytest's
# importlib mode does not put this folder on sys.path by itself.
sys.path.insert(0, os.path.dirname(__file__))

import identity_directory_double as directory_double  # noqa: E402
from identity_testing import (  # noqa: E402
    ADMIN_NUMBER,
    ADMIN_PERSON,
    CHILD_PERSON,
    GUARDIAN_NUMBER,
    GUARDIAN_PERSON,
    STAFF_NUMBER,
    STAFF_PERSON,
    UNIT,
    BankIdTestServer,
    EventTap,
    identity_config,
)

from torget_identity.ports import Ports, bankid_client  # noqa: E402
from torget_identity.protection import Protector  # noqa: E402
from torget_identity.service import IdentityService  # noqa: E402
from torget_identity.settings import IdentitySettings  # noqa: E402
from torget_shared.db import WorkerDatabase, make_engine  # noqa: E402
from torget_shared.outbox import write_event  # noqa: E402


@pytest.fixture
def bankid_server():
    server = BankIdTestServer()
    yield server
    server.stop()


@pytest.fixture
def directory(container_factory, rabbit_config):
    """Start the directory double, knowing a guardian, a teacher and an administrator."""
    directory_double.reset()
    directory_double.add_person(
        GUARDIAN_NUMBER, GUARDIAN_PERSON, guardian_of=[CHILD_PERSON], given_name="Anna", family_name="Andersson"
    )
    directory_double.add_person(
        STAFF_NUMBER, STAFF_PERSON, duties=[{"unit_id": UNIT, "duty_role": "Lärare"}], given_name="Sara", family_name="Lind"
    )
    directory_double.add_person(
        ADMIN_NUMBER, ADMIN_PERSON, duties=[{"unit_id": UNIT, "duty_role": "Skoladministratör"}], given_name="Per", family_name="Berg"
    )
    directory_double.PLACEMENTS[CHILD_PERSON] = [UNIT]
    container = container_factory(directory_double.DirectoryDouble, {"AMQP_URI": rabbit_config["AMQP_URI"]})
    container.start()
    yield directory_double
    directory_double.reset()


@pytest.fixture
def start_identity(start_service, bankid_server, directory):
    def start(**overrides):
        return start_service(IdentityService, **identity_config(bankid_server.url, **overrides))

    return start


@pytest.fixture
def identity(start_identity):
    return start_identity()


@pytest.fixture
def as_caller(rabbit_config):
    """Return a function giving an RPC proxy of identity that calls with a caller and session id."""
    proxies = []

    def make(caller: dict | None = None, session_id: str | None = None):
        context = {}
        if caller is not None:
            context["caller"] = caller
        if session_id is not None:
            context["session_id"] = session_id
        proxy = ServiceRpcProxy("identity", {"AMQP_URI": rabbit_config["AMQP_URI"]}, context_data=context, timeout=10)
        proxies.append(proxy)
        return proxy.start()

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def event_tap(rabbit_config):
    tap = EventTap(rabbit_config["AMQP_URI"])
    yield tap
    tap.close()


class LocalDirectory:
    """The directory double's table, called in-process for tests without a broker."""

    def person_roles(self, personal_number: str) -> dict:
        return directory_double.DirectoryDouble().person_roles(personal_number) or {}

    def is_guardian(self, guardian_person_id: str, child_person_id: str) -> bool:
        return directory_double.DirectoryDouble().is_guardian(guardian_person_id, child_person_id)

    def child_unit_ids(self, child_person_id: str) -> set[str]:
        return set(directory_double.PLACEMENTS.get(child_person_id, []))


@pytest.fixture
def ports(service_database, bankid_server):
    """Return the service layer's ports on a fresh database, the test server and the directory's table."""
    directory_double.reset()
    directory_double.add_person(GUARDIAN_NUMBER, GUARDIAN_PERSON, guardian_of=[CHILD_PERSON])
    engine = make_engine(service_database("identity"))
    settings = IdentitySettings.from_config(identity_config(bankid_server.url, BANKID_COLLECT_INTERVAL=0.01))
    yield Ports(
        db=WorkerDatabase(sessionmaker(bind=engine, expire_on_commit=False), on_commit=lambda: None),
        settings=settings,
        protector=Protector(settings.data_key, settings.lookup_key),
        bankid=bankid_client(settings),
        directory=LocalDirectory(),
        publish=lambda session, event_type, payload: write_event(session, "identity", event_type, payload),
    )
    engine.dispose()
    directory_double.reset()
