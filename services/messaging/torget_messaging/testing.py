"""Test support of the messaging service: the SMS sink and an SMTP server as fixtures, event publishing,
households, and a stand-in school directory that replies from data a test sets."""

import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, time

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from kombu import Connection
from nameko.constants import HEADER_PREFIX
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ServiceRpcProxy

from torget_messaging.models import delivery
from torget_messaging.service import MessagingService
from torget_messaging.sms_sink import SmsSink
from torget_shared import contracts  # noqa: F401  (registers the event schemas that publish() checks)
from torget_shared.caller import ACCOUNT, CALLER_KEY, Caller
from torget_shared.db import make_engine
from torget_shared.events import build_envelope
from torget_shared.testing.probe import wait_for

SINK_USER = "torget"
SINK_PASSWORD = "sink-secret"
CUSTODY = "Vårdnadshavare"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingSmtpHandler:
    """An aiosmtpd handler that keeps every message and rejects chosen recipients with 550."""

    def __init__(self):
        self.messages: list[dict] = []
        self.rejected_recipients: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.rejected_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        import email
        from email import policy

        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append({"to": list(envelope.rcpt_tos), "message": message})
        return "250 Message accepted"


@pytest.fixture
def smtp_server():
    handler = RecordingSmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def sms_sink():
    sink = SmsSink("127.0.0.1", 0, SINK_USER, SINK_PASSWORD).start()
    yield sink
    sink.stop()


def messaging_config(sms_sink, smtp_server, **overrides) -> dict:
    config = {
        "SMS_API_URL": sms_sink.url,
        "SMS_API_USERNAME": SINK_USER,
        "SMS_API_PASSWORD": SINK_PASSWORD,
        "SMS_TIMEOUT": 1.0,
        "SMS_CONNECT_TIMEOUT": 1.0,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_server.port,
        "SMTP_TIMEOUT": 2.0,
        "PUBLIC_URL": "https://torget.test",
        "DELIVERY_RETRY_DELAYS": "0.2,0.4",
        "DELIVERY_SENDING_LEASE": 3.0,
        "DELIVERY_RECONCILE_DELAY": 0.5,
        "DELIVERY_SWEEP_INTERVAL": 0.2,
        "HANDLER_RETRY_DELAYS": [0.2, 0.5],
    }
    config.update(overrides)
    return config


@pytest.fixture
def start_messaging(start_service, sms_sink, smtp_server):
    def start(**overrides):
        return start_service(MessagingService, **messaging_config(sms_sink, smtp_server, **overrides))

    return start


def publish(amqp_uri: str, producer: str, event_type: str, payload: dict, envelope: dict | None = None) -> dict:
    """Publish an event as the producer's outbox relay would; return the envelope."""
    envelope = envelope or build_envelope(producer, event_type, payload)
    with Connection(amqp_uri) as connection:
        connection.Producer().publish(
            envelope,
            exchange=get_event_exchange(producer, {}),
            routing_key=event_type,
            serializer="json",
            headers={f"{HEADER_PREFIX}.correlation_id": envelope["correlation_id"]},
            message_id=envelope["event_id"],
            retry=True,
        )
    return envelope


@dataclass
class GuardianSpec:
    given_name: str
    language: str = "sv"
    mobile: str | None = None
    email: str | None = None
    sms: bool = True
    email_enabled: bool = True
    protected: bool = False
    person_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Household:
    child_person_id: str
    unit_id: str
    guardians: list[GuardianSpec]


def set_up_household(amqp_uri, database_url, guardians: list[GuardianSpec], child_protected=False, child_name=("Åsa", "Lind")) -> Household:
    """Publish the directory and identity events of a child and its guardians; wait for the read model."""
    child_person_id = str(uuid.uuid4())
    unit_id = str(uuid.uuid4())
    publish(
        amqp_uri,
        "school_directory",
        "person_changed",
        {"person_id": child_person_id, "given_name": child_name[0], "family_name": child_name[1], "protected_identity": child_protected, "removed": False},
    )
    for guardian in guardians:
        publish(
            amqp_uri,
            "school_directory",
            "person_changed",
            {"person_id": guardian.person_id, "given_name": guardian.given_name, "family_name": "Lind", "protected_identity": guardian.protected, "removed": False},
        )
        publish(
            amqp_uri,
            "school_directory",
            "guardianship_established",
            {"child_person_id": child_person_id, "guardian_person_id": guardian.person_id, "relation_type": CUSTODY},
        )
        publish(
            amqp_uri,
            "identity",
            "contact_details_changed",
            {
                "account_id": str(uuid.uuid4()),
                "person_id": guardian.person_id,
                "email": guardian.email,
                "mobile": guardian.mobile,
                "language": guardian.language,
                "preferences": {"sms": guardian.sms, "email": guardian.email_enabled},
                "protected_identity": guardian.protected,
                "changed_at": "2026-12-01T08:00:00+00:00",
            },
        )

    engine = make_engine(database_url)
    try:
        def ready():
            with engine.connect() as connection:
                guardianships = connection.execute(sa.text("SELECT count(*) FROM guardianship WHERE child_person_id = :c"), {"c": child_person_id}).scalar()
                contacts = connection.execute(
                    sa.text("SELECT count(*) FROM contact WHERE person_id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": [g.person_id for g in guardians] or ["none"]},
                ).scalar()
                persons = connection.execute(sa.text("SELECT count(*) FROM person")).scalar()
            return guardianships == len(guardians) and contacts == len(guardians) and persons >= len(guardians) + 1

        wait_for(ready, timeout=15)
    finally:
        engine.dispose()
    return Household(child_person_id, unit_id, guardians)


def publish_people(amqp_uri: str, database_url: str, people: dict[str, tuple[str | None, str | None, bool]]) -> None:
    """Publish ``person_changed`` for each {person id: (given name, family name, protected)}; wait for the read model."""
    for person_id, (given_name, family_name, protected) in people.items():
        publish(
            amqp_uri,
            "school_directory",
            "person_changed",
            {"person_id": person_id, "given_name": given_name, "family_name": family_name, "protected_identity": protected, "removed": False},
        )
    engine = make_engine(database_url)
    try:
        def ready():
            with engine.connect() as connection:
                query = sa.text("SELECT count(*) FROM person WHERE person_id IN :ids").bindparams(sa.bindparam("ids", expanding=True))
                return connection.execute(query, {"ids": list(people)}).scalar() == len(people)

        wait_for(ready, timeout=15)
    finally:
        engine.dispose()


@dataclass
class StaffSpec:
    """A staff member with one duty, as the directory lists them and as its person_changed event names them."""

    unit_id: str
    duty_role: str
    name: tuple[str, str]
    protected: bool = False
    person_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def set_up_staff(amqp_uri: str, database_url: str, directory_data, staff: list[StaffSpec]) -> list[Caller]:
    """Give each staff member their duty in the stand-in directory and their name in messaging's read model; return their callers."""
    for spec in staff:
        directory_data.add_staff(spec.person_id, spec.unit_id, spec.duty_role, spec.name, protected=spec.protected)
    publish_people(amqp_uri, database_url, {spec.person_id: (*spec.name, spec.protected) for spec in staff})
    return [account(spec.person_id, "staff") for spec in staff]


def absence_payload(household: Household, **overrides) -> dict:
    payload = {
        "registration_id": str(uuid.uuid4()),
        "child_person_id": household.child_person_id,
        "unit_id": household.unit_id,
        "lesson_id": "lesson-1",
        "lesson_name": "Matematik",
        "local_date": date(2026, 12, 7).isoformat(),
        "local_start_time": time(8, 15).isoformat(),
        "local_end_time": time(9, 0).isoformat(),
        "kind": "absent",
        "late_minutes": None,
    }
    payload.update(overrides)
    return payload


def account(person_id: str, *roles: str) -> Caller:
    """Return a logged-in caller with the given roles, as the gateway sends it."""
    return Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id, roles=roles)


def call_as(rabbit_config, caller: Caller, method: str, *args, **kwargs):
    """Call a messaging RPC method as the gateway does for ``caller``."""
    context = {CALLER_KEY: caller.to_context(), "calling_service": "gateway"}
    with ServiceRpcProxy("messaging", {"AMQP_URI": rabbit_config["AMQP_URI"]}, context_data=context, timeout=10) as proxy:
        return getattr(proxy, method)(*args, **kwargs)


def rejection(rabbit_config, caller: Caller, method: str, *args, **kwargs) -> RemoteError:
    """Call as ``caller`` and return the RemoteError the call must raise."""
    with pytest.raises(RemoteError) as raised:
        call_as(rabbit_config, caller, method, *args, **kwargs)
    return raised.value


def deliveries(database_url: str) -> list[dict]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.select(delivery).order_by(delivery.c.created_at))]
    finally:
        engine.dispose()


def smtp_recipients(smtp_server) -> list[str]:
    with smtp_server.lock:
        return sorted(address for message in smtp_server.messages for address in message["to"])


def sms_recipients(sms_sink) -> list[str]:
    return sorted(message["to"] for message in sms_sink.messages)


def set_sink_behaviour(sms_sink, mode: str, count: int | None = None, delay: float = 0.0) -> None:
    sms_sink.state.set_behaviour(mode, count, delay)


class DirectoryData:
    """The data that the stand-in school directory returns: staff duties, groups and children's units."""

    def __init__(self):
        self.duties: dict[str, list[dict]] = {}
        self.groups: dict[str, dict] = {}
        self.children: dict[str, dict] = {}
        self.names: dict[str, tuple] = {}
        self.protected: set[str] = set()

    def add_duty(self, person_id: str, unit_id: str, duty_role: str = "Lärare") -> None:
        self.duties.setdefault(person_id, []).append({"unit_id": unit_id, "duty_role": duty_role})

    def add_group(self, group_id: str, unit_id: str, member_ids: list[str]) -> None:
        self.groups[group_id] = {"unit_id": unit_id, "member_ids": list(member_ids)}

    def add_child(
        self, child_person_id: str, unit_id: str, guardian_person_ids: list[str], protected_guardian_ids: tuple = ()
    ) -> None:
        self.children[child_person_id] = {
            "unit_id": unit_id,
            "guardian_person_ids": list(guardian_person_ids),
            "protected_guardian_ids": set(protected_guardian_ids),
        }

    def add_staff(self, person_id: str, unit_id: str, duty_role: str = "Lärare", name=("Lena", "Lärare"), protected=False) -> None:
        """Give a person a duty at a unit, with the name the directory's unit_staff returns."""
        self.add_duty(person_id, unit_id, duty_role)
        self.names[person_id] = (None, None) if protected else name
        if protected:
            self.protected.add(person_id)


class NotFound(Exception):
    """The stand-in's rejection of an unknown id; like the real directory's, it reaches the caller as a RemoteError of type ``NotFound``."""


class _Data(DependencyProvider):
    def get_dependency(self, worker_ctx) -> DirectoryData:
        return self.container.config["TEST_DIRECTORY_DATA"]


class StandInDirectory:
    """A ``school_directory`` service with the replies of the real one that messaging reads.

    NOTE: it does not check the caller as the real directory does; the test
    with the real directory covers that.
    """

    name = "school_directory"
    data = _Data()

    @rpc
    def staff_assignments(self, person_id: str | None = None) -> dict:
        units = [{"unit_id": duty["unit_id"], "duty_role": duty["duty_role"]} for duty in self.data.duties.get(person_id, [])]
        unit_ids = {unit["unit_id"] for unit in units}
        groups = [{"group_id": group_id, "unit_id": group["unit_id"]} for group_id, group in self.data.groups.items() if group["unit_id"] in unit_ids]
        return {"person_id": person_id, "units": units, "groups": groups}

    @rpc(expected_exceptions=NotFound)
    def group_members(self, group_id: str) -> dict:
        group = self.data.groups.get(group_id)
        if group is None:
            raise NotFound("group not found")
        return {"group_id": group_id, "unit_id": group["unit_id"], "members": [{"person_id": member} for member in group["member_ids"]]}

    @rpc(expected_exceptions=NotFound)
    def child_context(self, child_person_id: str) -> dict:
        child = self.data.children.get(child_person_id)
        if child is None:
            raise NotFound("child not found")
        groups = [
            {"group_id": group_id, "unit_id": group["unit_id"]}
            for group_id, group in self.data.groups.items()
            if child_person_id in group["member_ids"]
        ]
        guardians = [
            {"person_id": guardian_id, "given_name": None, "family_name": None, "protected_identity": guardian_id in child["protected_guardian_ids"]}
            for guardian_id in child["guardian_person_ids"]
        ]
        return {"child_person_id": child_person_id, "units": [{"unit_id": child["unit_id"]}], "groups": groups, "guardians": guardians}

    @rpc
    def unit_staff(self, unit_id: str) -> list[dict]:
        staff = []
        for person_id, duties in self.data.duties.items():
            roles = [duty["duty_role"] for duty in duties if duty["unit_id"] == unit_id]
            if roles:
                given_name, family_name = self.data.names.get(person_id, (None, None))
                protected = person_id in self.data.protected
                staff.append(
                    {"person_id": person_id, "given_name": given_name, "family_name": family_name, "protected_identity": protected, "duty_roles": roles}
                )
        return staff

    @rpc
    def guardian_children(self, guardian_person_id: str | None = None) -> list[dict]:
        return [
            {
                "person_id": child_id,
                "placements": [{"unit_id": child["unit_id"]}],
                "groups": [
                    {"group_id": group_id, "unit_id": group["unit_id"]}
                    for group_id, group in self.data.groups.items()
                    if child_id in group["member_ids"]
                ],
            }
            for child_id, child in self.data.children.items()
            if guardian_person_id in child["guardian_person_ids"]
        ]


@pytest.fixture
def directory_data(container_factory, rabbit_config) -> DirectoryData:
    """Start the stand-in school directory; the test fills the returned data, also after the start."""
    data = DirectoryData()
    container = container_factory(StandInDirectory, {"AMQP_URI": rabbit_config["AMQP_URI"], "TEST_DIRECTORY_DATA": data})
    container.start()
    return data


def run_service_process() -> None:
    """Run the messaging service in this process, configured by MESSAGING_TEST_CONFIG (JSON)."""
    import json
    import os

    import eventlet

    eventlet.monkey_patch()
    from nameko.runners import ServiceRunner

    runner = ServiceRunner(json.loads(os.environ["MESSAGING_TEST_CONFIG"]))
    runner.add_service(MessagingService)
    runner.start()
    runner.wait()


if __name__ == "__main__":
    run_service_process()
