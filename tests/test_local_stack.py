"""End-to-end: the local-process stack starts, reports ready, and stops completely.

Each test runs the stack on a RabbitMQ vhost of its own, with its SQLite files
under a temporary ``TORGET_VAR_DIR`` and the gateway on a free port. Every
process of the stack inherits that ``TORGET_VAR_DIR``, which is how the tests
find any process left behind.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from honcho.environ import parse_procfile

from torget_shared.config import SERVICE_NAMES, env_prefix
from torget_tools.stack import dev_server_env

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


def procfile_processes() -> dict[str, str]:
    return dict(parse_procfile((REPO_ROOT / "Procfile").read_text()).processes)


def service_classes() -> list[str]:
    """Return the ``module:Class`` of every nameko service the Procfile runs."""
    return [
        match.group(1)
        for command in procfile_processes().values()
        if (match := re.search(r"nameko run .* (\S+:\S+)$", command))
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path.name}: no output)"
    return f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def processes_with_env(name: str, value: str) -> list[str]:
    """Return ``pid command`` of every process whose environment sets ``name=value``."""
    expected = f"{name}={value}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended while it was being read
        if expected in environ:
            found.append(f"{proc.name} {command.strip()}")
    return found


def stack_processes(env: dict) -> list[str]:
    return processes_with_env("TORGET_VAR_DIR", env["TORGET_VAR_DIR"])


def wait_for_no_stack_processes(env: dict) -> list[str]:
    """Wait up to STOP_TIMEOUT for every process of the stack to end, and return those still running."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while (left := stack_processes(env)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def wait_until_ready(env: dict, processes: list[subprocess.Popen], logs: list[Path]) -> dict:
    """Poll the gateway's /readyz until it returns 200, and return its body.

    Fails at once when one of ``processes`` exits, showing the end of ``logs``.
    """
    url = f"http://{env['GATEWAY_BIND']}/readyz"
    deadline = time.monotonic() + READY_TIMEOUT
    last_answer = "no answer"
    while time.monotonic() < deadline:
        exited = [process.args for process in processes if process.poll() is not None]
        if exited:
            pytest.fail(f"exited during start-up: {exited}\n" + "\n".join(map(tail, logs)), pytrace=False)
        try:
            response = requests.get(url, timeout=5)
        except requests.RequestException as exc:
            last_answer = repr(exc)
        else:
            last_answer = f"{response.status_code} {response.text}"
            if response.status_code == 200:
                return response.json()
        time.sleep(0.5)

    pytest.fail(
        f"{url} not 200 within {READY_TIMEOUT:.0f} s; last answer: {last_answer}\n" + "\n".join(map(tail, logs)),
        pytrace=False,
    )


def assert_all_services_ready(readiness: dict) -> None:
    assert readiness["status"] == "ready"
    assert readiness["broker"] == "ok"
    assert set(readiness["services"]) == set(SERVICE_NAMES)
    for name, report in readiness["services"].items():
        assert report["status"] == "ok", f"{name}: {report}"


@pytest.fixture
def stack_env(rabbit_config, tmp_path):
    """The environment of a stack on this test's vhost, SQLite directory and port.

    Kills whatever the test left running, so that a failed test does not leave
    servers behind for the next one.
    """
    env = dict(os.environ)
    for service_name in SERVICE_NAMES:
        env.pop(f"{env_prefix(service_name)}_DATABASE_URL", None)
    env.update(
        AMQP_URI=rabbit_config["AMQP_URI"],
        TORGET_VAR_DIR=str(tmp_path / "var"),
        GATEWAY_BIND=f"127.0.0.1:{free_port()}",
        PATH=f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        **dev_server_env(),
    )
    yield env

    for line in stack_processes(env):
        try:
            os.kill(int(line.split(" ", 1)[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for_no_stack_processes(env)


def run_command(args: list, env: dict) -> None:
    result = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args} exited with {result.returncode}:\n{result.stdout}{result.stderr}"


def assert_stack_found(started: list[str]) -> None:
    """Check that the process scan finds the stack, so that an empty scan later means it ended."""
    for service_class in service_classes():
        assert any(service_class in line for line in started), f"no process runs {service_class}: {started}"
    assert any("gunicorn" in line for line in started), f"no gunicorn process: {started}"
    for server in ("sms-sink", "bankid", "mail"):
        assert any(f"torget-dev-server {server}" in line for line in started), f"no {server} process: {started}"


def test_procfile_commands_start_and_stop(stack_env, tmp_path):
    """Run each Procfile command as honcho does: a shell in a session of its own."""
    os.makedirs(stack_env["TORGET_VAR_DIR"])
    run_command([BIN_DIR / "torget-migrate"], stack_env)
    run_command([BIN_DIR / "torget-declare-queues", *service_classes()], stack_env)

    processes, logs = {}, []
    for name, command in procfile_processes().items():
        log_path = tmp_path / f"{name}.log"
        logs.append(log_path)
        with open(log_path, "wb") as log_file:
            processes[name] = subprocess.Popen(
                command,
                shell=True,
                cwd=REPO_ROOT,
                env=stack_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    readiness = wait_until_ready(stack_env, list(processes.values()), logs)
    assert_all_services_ready(readiness)
    assert_stack_found(stack_processes(stack_env))

    for process in processes.values():
        os.killpg(process.pid, signal.SIGTERM)
    for name, process in processes.items():
        try:
            returncode = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} still runs {STOP_TIMEOUT:.0f} s after SIGTERM\n{tail(tmp_path / f'{name}.log')}")
        assert returncode == 0, f"{name} exited with {returncode}\n{tail(tmp_path / f'{name}.log')}"
    assert wait_for_no_stack_processes(stack_env) == []


def start_make_run(env: dict, log_path: Path) -> subprocess.Popen:
    # `-o setup`: the environment is installed already, and reinstalling it
    # while other tests run from it would break them.
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            ["make", "--no-print-directory", "-o", "setup", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_with_ctrl_c(make: subprocess.Popen, env: dict) -> None:
    # A terminal sends SIGINT to its whole foreground process group.
    os.killpg(make.pid, signal.SIGINT)


def stop_with_sigterm(make: subprocess.Popen, env: dict) -> None:
    make.send_signal(signal.SIGTERM)


def stop_with_make_stop(make: subprocess.Popen, env: dict) -> None:
    stop = subprocess.run(
        ["make", "--no-print-directory", "stop"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "stack stopped" in stop.stdout


@pytest.mark.parametrize("stop", [stop_with_ctrl_c, stop_with_sigterm, stop_with_make_stop])
def test_make_run_stops_every_process(stack_env, tmp_path, stop):
    log_path = tmp_path / "make-run.log"
    make = start_make_run(stack_env, log_path)
    readiness = wait_until_ready(stack_env, [make], [log_path])
    assert_all_services_ready(readiness)
    started = stack_processes(stack_env)
    assert_stack_found(started)

    stop(make, stack_env)

    try:
        make.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run still runs {STOP_TIMEOUT:.0f} s after the stop\n{tail(log_path)}")
    left = wait_for_no_stack_processes(stack_env)
    assert left == [], f"left running after the stop: {left}\nstarted: {started}\n{tail(log_path)}"
    output = log_path.read_text(errors="replace")
    assert "SIGKILL" not in output, f"honcho had to kill a process\n{tail(log_path)}"
