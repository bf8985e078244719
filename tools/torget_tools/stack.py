"""Start and stop the local-process stack (`make run`) on free ports, for the demo, the tests and the benchmark."""

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dev_server_env() -> dict:
    """Return free ports for the SMS sink, BankID test server and SMTP catcher, and point the services at them."""
    sms_sink, bankid, smtp, mail_http = free_port(), free_port(), free_port(), free_port()
    return {
        "SMS_SINK_PORT": str(sms_sink),
        "MESSAGING_SMS_API_URL": f"http://127.0.0.1:{sms_sink}",
        "BANKID_TEST_SERVER_PORT": str(bankid),
        "BANKID_URL": f"http://127.0.0.1:{bankid}/rp/v6.0",
        "MAIL_CATCHER_SMTP_PORT": str(smtp),
        "MESSAGING_SMTP_PORT": str(smtp),
        "MAIL_CATCHER_HTTP_PORT": str(mail_http),
    }


def stack_env(amqp_uri: str, var_dir: Path, base: dict | None = None) -> dict:
    """Return the environment of a stack on ``amqp_uri`` with its SQLite files in ``var_dir``, on free ports."""
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if name.endswith("_DATABASE_URL") and name != "TEST_DATABASE_URL":
            env.pop(name)
    gateway_bind = f"127.0.0.1:{free_port()}"
    env.update(
        AMQP_URI=amqp_uri,
        TORGET_VAR_DIR=str(var_dir),
        GATEWAY_BIND=gateway_bind,
        TORGET_PUBLIC_URL=f"http://{gateway_bind}",
        PATH=f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        **dev_server_env(),
    )
    return env


def processes_with_env(name: str, value: str) -> list[int]:
    """Return the process ids whose environment sets ``name=value``."""
    expected = f"{name}={value}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if expected in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue  # the process ended while it was being read
    return found


class LocalStack:
    """`make run` as a subprocess, with its output in ``log_path``."""

    def __init__(self, env: dict, log_path: Path):
        self.env = env
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://{self.env['GATEWAY_BIND']}"

    def start(self) -> None:
        Path(self.env["TORGET_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log_file:
            # `-o setup`: the environment is installed already; reinstalling it
            # while other programs run from it would break them.
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "-o", "setup", "run"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no output)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_ready(self, timeout: float = READY_TIMEOUT) -> dict:
        """Poll /readyz until it returns 200, and return its body; raise RuntimeError when make exits or time runs out."""
        deadline = time.monotonic() + timeout
        last_answer = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"make run exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                response = requests.get(f"{self.gateway_url}/readyz", timeout=5)
                last_answer = f"{response.status_code} {response.text[:500]}"
                if response.status_code == 200:
                    return response.json()
            except requests.RequestException as exc:
                last_answer = repr(exc)
            time.sleep(0.5)
        raise RuntimeError(f"the stack was not ready within {timeout:.0f} s; last answer: {last_answer}\n{self.log_tail()}")

    def stop(self) -> list[int]:
        """Stop the stack as Ctrl-C does, and return the ids of processes that were still left and had to be killed."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

        deadline = time.monotonic() + STOP_TIMEOUT
        while (left := processes_with_env("TORGET_VAR_DIR", self.env["TORGET_VAR_DIR"])) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left


def run_tool(args: list, env: dict, timeout: float = 300) -> str:
    """Run a torget-* command of the virtual environment and return its output; raise RuntimeError when it fails."""
    result = subprocess.run(
        [str(BIN_DIR / args[0]), *map(str, args[1:])], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited with {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


class Vhost:
    """A RabbitMQ vhost made for one run, through the management API."""

    def __init__(self, amqp_uri: str, api_uri: str, name: str):
        self.name = name
        self.api = urlsplit(api_uri)
        self.auth = (self.api.username or "guest", self.api.password or "guest")
        self.base = urlunsplit((self.api.scheme, f"{self.api.hostname}:{self.api.port or 15672}", "/api", "", ""))
        parts = urlsplit(amqp_uri)
        self.amqp_uri = urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))

    def create(self) -> None:
        url = f"{self.base}/vhosts/{quote(self.name, safe='')}"
        requests.put(url, auth=self.auth, timeout=10).raise_for_status()
        requests.put(
            f"{self.base}/permissions/{quote(self.name, safe='')}/{quote(self.auth[0], safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=self.auth,
            timeout=10,
        ).raise_for_status()

    def delete(self) -> None:
        requests.delete(f"{self.base}/vhosts/{quote(self.name, safe='')}", auth=self.auth, timeout=10)


def documents_keys() -> dict:
    """Return a fresh documents encryption keyring of one key, for a stack that lives one run."""
    return {
        "DOCUMENTS_KEYS": "run=" + base64.b64encode(os.urandom(32)).decode(),
        "DOCUMENTS_ACTIVE_KEY": "run",
    }


@contextmanager
def running_stack(amqp_uri: str, api_uri: str, var_dir: Path, extra_env: dict | None = None):
    """Start `make run` on a vhost of its own with its files in ``var_dir``, and yield the ready LocalStack.

    On exit it stops the stack, removes the vhost, and raises RuntimeError
    when a process had to be killed.
    """
    vhost = Vhost(amqp_uri, api_uri, f"torget_stack_{uuid.uuid4().hex[:12]}")
    vhost.create()
    env = stack_env(vhost.amqp_uri, Path(var_dir) / "data")
    env.update(documents_keys(), **(extra_env or {}))
    stack = LocalStack(env, Path(var_dir) / "stack.log")
    left = []
    try:
        stack.start()
        stack.wait_until_ready()
        yield stack
    finally:
        left = stack.stop()
        vhost.delete()
    if left:
        raise RuntimeError(f"processes {left} still ran {STOP_TIMEOUT:.0f} s after the stop and were killed")
