"""Fixtures of the identity tests: the BankID test server, the directory double and the service."""

import os
import sys

import pytest
from nameko.standalone.rpc import ServiceRpcProxy

# The helpers and the directory double sit beside this file; pytest's
# importlib mode does not put this folder on sys.path by itself.
sys.path.insert(0, os.path.dirname(__file__))

import directory_double  # noqa: E402
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

from torget_identity.service import IdentityService  # noqa: E402


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
