"""Fixtures of the documents tests: the service on real RabbitMQ and PostgreSQL, a directory double, callers."""

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ServiceRpcProxy

from torget_documents.crypto import new_key_line
from torget_documents.service import DocumentsService
from torget_shared.caller import Caller
from torget_shared.db import make_engine

# The tests import their helpers and the directory double from this folder.
sys.path.insert(0, str(Path(__file__).parent))

import documents_directory_double as directory_double  # noqa: E402
from documents_support import (  # noqa: E402
    ASSISTANT_A,
    CHILD,
    GROUP_A1,
    GROUP_A2,
    GUARDIAN,
    NO_CUSTODY_GUARDIAN,
    NURSE_A,
    OTHER_CHILD,
    OTHER_GUARDIAN,
    PRINCIPAL_A,
    TEACHER_A,
    TEACHER_B,
    UNIT_A,
    UNIT_B,
    UNIT_C,
)


@pytest.fixture
def directory():
    """The directory double's state: child-1 in unit A (group A1) with guardian-1; child-2 in A2 with guardian-2."""
    state = directory_double.state
    state.reset()
    for unit in (UNIT_A, UNIT_B, UNIT_C):
        state.set_features(unit)
    state.place(CHILD, UNIT_A, [GROUP_A1])
    state.add_guardian(CHILD, GUARDIAN.person_id)
    state.add_guardian(CHILD, NO_CUSTODY_GUARDIAN.person_id, custody=False)
    state.place(OTHER_CHILD, UNIT_A, [GROUP_A2])
    state.add_guardian(OTHER_CHILD, OTHER_GUARDIAN.person_id)
    state.add_duty(TEACHER_A.person_id, UNIT_A, "Förskollärare", name="Anna Lärare")
    state.add_duty(ASSISTANT_A.person_id, UNIT_A, "Barnskötare", name="Bo Barnskötare")
    state.add_duty(PRINCIPAL_A.person_id, UNIT_A, "Rektor", name="Rut Rektor")
    state.add_duty(NURSE_A.person_id, UNIT_A, "Skolsköterska", name="Sara Sköterska")
    state.add_duty(TEACHER_B.person_id, UNIT_B, "Lärare", name="Bertil Lärare")
    yield state
    state.reset()


@pytest.fixture
def keyring_config():
    return {"DOCUMENTS_KEYS": new_key_line("k1"), "DOCUMENTS_ACTIVE_KEY": "k1", "DOCUMENTS_ADMINISTRATION_ID": "test-adm"}


class DocumentsHarness:
    """The running documents service, RPC proxies per caller and raw access to its database."""

    def __init__(self, start_service, amqp_uri: str, config: dict):
        self._start_service = start_service
        self._amqp_uri = amqp_uri
        self.config = config
        self.file_store = Path(config["DOCUMENTS_FILE_STORE"])
        self.service = start_service(DocumentsService, **config)
        self.database_url = self.service.database_url
        self._proxies: dict = {}
        self._started: list = []

    def as_(self, caller: Caller):
        """Return an RPC proxy to the documents service that calls as ``caller`` through the gateway."""
        if caller not in self._proxies:
            context = {"caller": caller.to_context(), "calling_service": "gateway"}
            proxy = ServiceRpcProxy("documents", {"AMQP_URI": self._amqp_uri}, context_data=context, timeout=15)
            self._proxies[caller] = proxy.start()
            self._started.append(proxy)
        return self._proxies[caller]

    def restart(self, **config) -> None:
        """Stop the service and start it again on the same database with changed settings."""
        self.service.container.stop()
        self.config = {**self.config, **config}
        self.service = self._start_service(DocumentsService, database_url=self.database_url, **self.config)

    def rows(self, query: str, **params) -> list[dict]:
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as connection:
                return [dict(row._mapping) for row in connection.execute(sa.text(query), params)]
        finally:
            engine.dispose()

    def execute(self, statement: str, **params) -> None:
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as connection:
                connection.execute(sa.text(statement), params)
        finally:
            engine.dispose()

    def stop_proxies(self) -> None:
        for proxy in self._started:
            proxy.stop()


@pytest.fixture
def directory_service(container_factory, rabbit_config, directory):
    """Start the directory double on this test's vhost."""
    container = container_factory(directory_double.DirectoryDouble, {"AMQP_URI": rabbit_config["AMQP_URI"]})
    container.start()
    yield container
    container.stop()


@pytest.fixture
def documents(directory_service, start_service, rabbit_config, keyring_config, tmp_path):
    config = {
        **keyring_config,
        "DOCUMENTS_FILE_STORE": str(tmp_path / "files"),
        "DOCUMENTS_ROTATION_INTERVAL": 0.2,
        "RPC_TIMEOUT": 3,
    }
    harness = DocumentsHarness(start_service, rabbit_config["AMQP_URI"], config)
    yield harness
    harness.stop_proxies()
