"""pytest fixtures: a fresh RabbitMQ vhost and fresh PostgreSQL databases per test."""

import contextlib
import os
import uuid
from urllib.parse import quote, urlparse, urlunparse

import pytest
import requests
import sqlalchemy as sa

from torget_shared.testing.backends import BackendUnavailable, postgres_admin_url, rabbit_backend


@pytest.fixture(scope="session")
def _backend_stack():
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def rabbit(_backend_stack):
    try:
        return rabbit_backend(_backend_stack)
    except BackendUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


class RabbitAdmin:
    """A small client of the RabbitMQ management API."""

    def __init__(self, api_uri: str):
        parsed = urlparse(api_uri)
        self.base = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 15672}/api"
        self.auth = (parsed.username or "guest", parsed.password or "guest")
        self.user = self.auth[0]

    def request(self, method: str, path: str, **kwargs):
        response = requests.request(method, f"{self.base}{path}", auth=self.auth, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def create_vhost(self, vhost: str) -> None:
        self.request("PUT", f"/vhosts/{quote(vhost, safe='')}")
        self.request(
            "PUT",
            f"/permissions/{quote(vhost, safe='')}/{quote(self.user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )

    def delete_vhost(self, vhost: str) -> None:
        self.request("DELETE", f"/vhosts/{quote(vhost, safe='')}")

    def queues(self, vhost: str) -> list[dict]:
        return self.request("GET", f"/queues/{quote(vhost, safe='')}")

    def connections(self, vhost: str) -> list[dict]:
        return self.request("GET", f"/vhosts/{quote(vhost, safe='')}/connections")

    def close_connection(self, name: str) -> None:
        self.request("DELETE", f"/connections/{quote(name, safe='')}", headers={"X-Reason": "test"})


@pytest.fixture(scope="session")
def rabbit_admin(rabbit) -> RabbitAdmin:
    try:
        RabbitAdmin(rabbit.api_uri).request("GET", "/overview")
    except requests.RequestException as exc:
        pytest.fail(
            f"The RabbitMQ management API at {rabbit.api_uri} did not answer ({exc}). "
            "Enable it with: rabbitmq-plugins enable rabbitmq_management",
            pytrace=False,
        )
    return RabbitAdmin(rabbit.api_uri)


@pytest.fixture
def rabbit_config(rabbit, rabbit_admin):
    """Create a vhost for this test and yield its nameko config; delete the vhost afterwards."""
    vhost = f"torget_test_{uuid.uuid4().hex[:12]}"
    rabbit_admin.create_vhost(vhost)

    parsed = urlparse(rabbit.amqp_uri)
    amqp_uri = urlunparse(parsed._replace(path=f"/{vhost}"))
    yield {"AMQP_URI": amqp_uri, "vhost": vhost}

    from kombu.pools import connections, producers

    # Connections left in kombu's pools point at the vhost about to go.
    for pool_group in (producers, connections):
        for key, pool in list(pool_group.items()):
            if vhost in str(key):
                pool.force_close_all()
    rabbit_admin.delete_vhost(vhost)


@pytest.fixture
def amqp_uri(rabbit_config) -> str:
    return rabbit_config["AMQP_URI"]


@pytest.fixture(scope="session")
def postgres_admin(_backend_stack) -> str:
    try:
        url = postgres_admin_url(_backend_stack)
    except BackendUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)

    from torget_shared.db import normalize_url

    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at TEST_DATABASE_URL did not answer: {exc.orig}", pytrace=False)
    finally:
        engine.dispose()
    return url


class DatabaseFactory:
    """Creates one migrated PostgreSQL database per service and test.

    Each service is migrated once per session into a template database; a
    test gets a copy of the template, which is much faster than migrating.
    """

    def __init__(self, admin_url: str):
        from torget_shared.db import normalize_url

        admin_url = normalize_url(admin_url)
        self.admin_url = admin_url
        self.admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.templates: dict[str, str] = {}
        self.created: list[str] = []
        self.run_id = uuid.uuid4().hex[:8]

    def url_for(self, database: str) -> str:
        return sa.make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def _execute(self, statement: str) -> None:
        with self.admin_engine.connect() as connection:
            connection.execute(sa.text(statement))

    def template(self, service_name: str) -> str:
        if service_name not in self.templates:
            from torget_shared.migrations import upgrade

            name = f"torget_tmpl_{service_name}_{self.run_id}"
            self._execute(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            upgrade(service_name, self.url_for(name))
            self.templates[service_name] = name
        return self.templates[service_name]

    def create(self, service_name: str) -> str:
        template = self.template(service_name)
        name = f"torget_test_{service_name}_{uuid.uuid4().hex[:10]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.insert(0, name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        name = sa.make_url(url).database
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()
        self.admin_engine.dispose()


@pytest.fixture(scope="session")
def database_factory(postgres_admin):
    factory = DatabaseFactory(postgres_admin)
    yield factory
    factory.drop_all()


@pytest.fixture
def service_database(database_factory):
    """Return a function giving a fresh, migrated database URL for a service."""
    urls = []

    def create(service_name: str) -> str:
        url = database_factory.create(service_name)
        urls.append(url)
        return url

    yield create
    for url in urls:
        database_factory.drop(url)


def pytest_report_header(config):
    return [
        f"rabbitmq: {os.environ.get('AMQP_URI', 'testcontainers')}",
        f"postgresql: {os.environ.get('TEST_DATABASE_URL', 'testcontainers')}",
    ]


@pytest.fixture
def start_service(container_factory, rabbit_config, service_database):
    """Start a service class in a container on this test's vhost and a fresh database.

    ``migrations`` names the service whose Alembic history builds the
    database (default: the class's own ``name``); ``database_url`` passes
    a database the test made itself. Returns an RPC proxy to
    the started service; the container and proxy stop when the test ends.
    The database URL is kept on the proxy as ``database_url``.
    """
    from nameko.standalone.rpc import ServiceRpcProxy

    proxies = []
    containers = []

    def start(service_cls, migrations: str | None = None, database_url: str | None = None, **config):
        database_url = database_url or service_database(migrations or service_cls.name)
        container = container_factory(
            service_cls,
            {
                "AMQP_URI": rabbit_config["AMQP_URI"],
                "DATABASE_URL": database_url,
                "OUTBOX_POLL_INTERVAL": 0.05,
                **config,
            },
        )
        container.start()
        containers.append(container)
        proxy = ServiceRpcProxy(service_cls.name, {"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=10)
        proxies.append(proxy)
        started = proxy.start()
        started.database_url = database_url
        started.container = container
        return started

    yield start
    # Stop the containers here, before the vhost and databases they use are
    # removed by fixtures set up earlier.
    for proxy in proxies:
        proxy.stop()
    for container in reversed(containers):
        container.stop()
