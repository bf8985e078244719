"""Finding the RabbitMQ and PostgreSQL that the tests run against.

In order: the servers named by AMQP_URI / RABBIT_API_URI and
TEST_DATABASE_URL; else containers started with testcontainers when a Docker
daemon answers; else the tests fail with a message that says what to start.
"""

import os
from dataclasses import dataclass

START_HINT = (
    "The tests need a real RabbitMQ (with the management plugin) and a real PostgreSQL. "
    "Set AMQP_URI, RABBIT_API_URI and TEST_DATABASE_URL, for example\n"
    "  AMQP_URI=amqp://guest:guest@127.0.0.1:5672/ RABBIT_API_URI=http://guest:guest@127.0.0.1:15672 "
    "TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres\n"
    "or start a Docker daemon so that testcontainers can run them. "
    "Enable the management plugin with: rabbitmq-plugins enable rabbitmq_management"
)


class BackendUnavailable(RuntimeError):
    pass


@dataclass
class RabbitBackend:
    amqp_uri: str
    api_uri: str


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def rabbit_backend(stack) -> RabbitBackend:
    amqp_uri = os.environ.get("AMQP_URI")
    api_uri = os.environ.get("RABBIT_API_URI")
    if amqp_uri and api_uri:
        return RabbitBackend(amqp_uri, api_uri)

    if docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management")
        container.with_exposed_ports(5672, 15672)
        stack.enter_context(container)
        host = container.get_container_host_ip()
        return RabbitBackend(
            f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/",
            f"http://guest:guest@{host}:{container.get_exposed_port(15672)}",
        )

    raise BackendUnavailable(START_HINT)


def postgres_admin_url(stack) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url

    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16", driver="psycopg2")
        stack.enter_context(container)
        return container.get_connection_url()

    raise BackendUnavailable(START_HINT)
