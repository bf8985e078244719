"""The deployment files name every part of the stack and point at files that exist.

No Docker engine runs in CI, so these tests read the files instead of starting them.
"""

import re
from pathlib import Path

import pytest
import yaml
from honcho.environ import parse_procfile

from torget_shared.config import SERVICE_NAMES, env_prefix

REPO_ROOT = Path(__file__).resolve().parent.parent
DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
# Compose and the repository name a service by its folder, nameko by its Python name.
SERVICE_FOLDERS = {name: name.replace("_", "-") for name in SERVICE_NAMES}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def test_compose_names_every_part(compose):
    names = set(compose["services"])

    for folder in SERVICE_FOLDERS.values():
        assert folder in names
    assert "rabbitmq" in names
    assert "postgres" in names
    assert "gateway" in names


def test_compose_rabbitmq_has_management_plugin(compose):
    assert "management" in compose["services"]["rabbitmq"]["image"]


def test_compose_gives_each_service_its_database(compose):
    databases = {}
    for name, folder in SERVICE_FOLDERS.items():
        environment = compose["services"][folder]["environment"]
        variable = f"{env_prefix(name)}_DATABASE_URL"

        assert variable in environment, f"{folder} has no {variable}"
        assert "@postgres:5432/" in environment[variable]
        others = [key for key in environment if key.endswith("_DATABASE_URL") and key != variable]
        assert others == [], f"{folder} also gets {others}"
        databases[folder] = database_of(environment[variable])

    assert len(set(databases.values())) == len(databases), f"services share a database: {databases}"


def test_postgres_init_creates_every_database(compose):
    init_sql = (DEPLOY / "postgres" / "init-databases.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+)", init_sql))

    for name, folder in SERVICE_FOLDERS.items():
        url = compose["services"][folder]["environment"][f"{env_prefix(name)}_DATABASE_URL"]
        assert database_of(url) in created


def test_compose_amqp_uri_names_rabbitmq(compose):
    for folder in [*SERVICE_FOLDERS.values(), "gateway", "declare-queues"]:
        assert compose["services"][folder]["environment"]["AMQP_URI"].startswith("amqp://guest:guest@rabbitmq:5672/")


def test_compose_services_wait_for_dependencies(compose):
    for folder in SERVICE_FOLDERS.values():
        depends_on = compose["services"][folder]["depends_on"]

        assert depends_on["declare-queues"]["condition"] == "service_completed_successfully"
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["rabbitmq"]["condition"] == "service_healthy"
        assert "healthcheck" in compose["services"][folder]


def test_compose_builds_point_at_existing_dockerfiles(compose):
    builds = {name: service["build"] for name, service in compose["services"].items() if "build" in service}
    assert set(SERVICE_FOLDERS.values()) | {"gateway", "declare-queues"} <= set(builds)

    for name, build in builds.items():
        context = (DEPLOY / build["context"]).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert context == REPO_ROOT, f"{name} builds from {context}, not the repository root"
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_compose_runs_the_procfile_commands(compose):
    """Compose and `make run` start each service with the same nameko command."""
    procfile = parse_procfile((REPO_ROOT / "Procfile").read_text()).processes

    for folder in SERVICE_FOLDERS.values():
        nameko_command = procfile[folder].removeprefix("exec ")
        assert nameko_command in " ".join(compose["services"][folder]["command"])


def test_declare_job_declares_every_procfile_service():
    procfile = parse_procfile((REPO_ROOT / "Procfile").read_text()).processes
    tools_dockerfile = (DEPLOY / "tools.Dockerfile").read_text()

    for folder in SERVICE_FOLDERS.values():
        service_class = procfile[folder].rsplit(" ", 1)[-1]
        assert f'"{service_class}"' in tools_dockerfile


def test_kubernetes_manifests_parse():
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())

    for resource in kustomization["resources"]:
        documents = list(yaml.safe_load_all((DEPLOY / "k8s" / resource).read_text()))
        assert documents, f"{resource} is empty"
        for document in documents:
            assert {"apiVersion", "kind", "metadata"} <= set(document), f"{resource}: {document}"
