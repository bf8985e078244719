"""Measure lesson registrations per second through the gateway.

Starts, on a fresh RabbitMQ vhost and a fresh PostgreSQL database: the
attendance service (``nameko run``), the directory test double with an event
consumer, and the gateway under gunicorn (gthread workers). Then CLIENTS
threads register LESSONS lessons of 25 pupils each (2 absent, 1 late, 22
present) with PUT /attendance/lessons/<id>/registration, each lesson once,
and the script prints registrations and marks per second and the latency
p50 and p99. The result is appended to docs/benchmarks.md as a section.

Environment: AMQP_URI, RABBIT_API_URI, TEST_DATABASE_URL (as for the tests),
BENCH_LESSONS (default 1000), BENCH_CLIENTS (default 8), GATEWAY_WORKERS and
GATEWAY_THREADS (gunicorn's, default 2 and 8).
"""

import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[3]
BENCH_DIR = Path(__file__).resolve().parent
TESTS_DIR = BENCH_DIR.parent / "tests"
sys.path.insert(0, str(TESTS_DIR))

import directory_double  # noqa: E402

from torget_attendance.models import lesson_groups, lesson_teachers, lessons  # noqa: E402
from torget_attendance.schooltime import local_date  # noqa: E402
from torget_shared.config import Settings  # noqa: E402
from torget_shared.db import make_engine  # noqa: E402
from torget_shared.migrations import upgrade  # noqa: E402
from torget_shared.testing.plugin import DatabaseFactory, RabbitAdmin  # noqa: E402

LESSONS = int(os.environ.get("BENCH_LESSONS", "1000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
TEACHER = "teacher-1"
PERSON_HEADER = "X-Bench-Person"
BENCHMARKS_FILE = ROOT / "docs" / "benchmarks.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def insert_lessons(database_url: str, count: int) -> list[str]:
    """Insert ``count`` one-hour lessons of the benchmark group, spread over the past days."""
    engine = make_engine(database_url)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    ids, lesson_rows = [], []
    for index in range(count):
        starts_at = now - timedelta(hours=index + 1)
        lesson_id = str(uuid.uuid4())
        ids.append(lesson_id)
        lesson_rows.append({
            "id": lesson_id, "unit_id": directory_double.UNIT_A, "name": "Matematik", "starts_at": starts_at,
            "ends_at": starts_at + timedelta(minutes=60), "local_date": local_date(starts_at), "cancelled": False,
            "source": "staff", "created_at": now, "updated_at": now,
        })
    with engine.begin() as connection:
        connection.execute(sa.insert(lessons), lesson_rows)
        connection.execute(sa.insert(lesson_groups), [{"lesson_id": i, "group_id": directory_double.GROUP_BENCH} for i in ids])
        connection.execute(sa.insert(lesson_teachers), [{"lesson_id": i, "teacher_person_id": TEACHER} for i in ids])
    engine.dispose()
    return ids


def registration_body() -> dict:
    pupils = directory_double.PUPILS_BENCH
    marks = [{"child_person_id": pupil, "status": "present"} for pupil in pupils]
    marks[0] = {"child_person_id": pupils[0], "status": "absent"}
    marks[1] = {"child_person_id": pupils[1], "status": "absent", "valid_absence": True}
    marks[2] = {"child_person_id": pupils[2], "status": "late", "late_minutes": 10}
    return {"marks": marks}


def start_processes(amqp_uri: str, database_url: str, port: int, workdir: Path) -> list[subprocess.Popen]:
    config = workdir / "nameko.yaml"
    config.write_text(f"AMQP_URI: '{amqp_uri}'\nDATABASE_URL: '{database_url}'\nmax_workers: 10\nserializer: json\n")
    env = {**os.environ, "AMQP_URI": amqp_uri, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(BENCH_DIR)]),
           "GATEWAY_BIND": f"127.0.0.1:{port}", "LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore"}
    bin_dir = Path(sys.executable).parent
    commands = [
        [bin_dir / "nameko", "run", "--config", config, "torget_attendance.service:AttendanceService"],
        [bin_dir / "nameko", "run", "--config", config, "directory_double:DirectoryDouble", "event_recorder:EventRecorder"],
        [bin_dir / "gunicorn", "-c", ROOT / "gateway" / "gunicorn.conf.py", "bench_gateway:create_app()"],
    ]
    return [
        subprocess.Popen([str(part) for part in command], cwd=ROOT, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=open(workdir / f"process-{index}.log", "w"))
        for index, command in enumerate(commands)
    ]


def wait_until_ready(base_url: str, lesson_id: str, timeout: float = 60.0) -> None:
    """Register one warm-up lesson until the gateway and the services respond."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.put(f"{base_url}/attendance/lessons/{lesson_id}/registration",
                                    json=registration_body(), headers={PERSON_HEADER: TEACHER}, timeout=5)
            if response.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(
        f"the gateway and services did not respond within {timeout} s; check that RabbitMQ and PostgreSQL run"
    )


def run_clients(base_url: str, lesson_ids: list[str]) -> tuple[list[float], int, float]:
    """Register every lesson once from CLIENTS threads; return latencies, failures and wall time."""
    body = registration_body()
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    queue = list(lesson_ids)

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if not queue:
                    return
                lesson_id = queue.pop()
            started = time.perf_counter()
            response = session.put(f"{base_url}/attendance/lessons/{lesson_id}/registration", json=body,
                                   headers={PERSON_HEADER: TEACHER}, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status_code != 200:
                    failures[0] += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures[0], time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def append_result(result: dict) -> None:
    BENCHMARKS_FILE.parent.mkdir(exist_ok=True)
    if not BENCHMARKS_FILE.exists():
        BENCHMARKS_FILE.write_text("# Benchmarks\n\nMeasured numbers, each with the command, machine and date that produced it.\n")
    section = f"""
## Attendance: lesson registrations through the gateway ({result['date']})

- command: `make bench-attendance` (services/attendance/bench/bench_registrations.py)
- machine: {result['nproc']} CPUs (`nproc`), {result['cpu']}; RabbitMQ and PostgreSQL on the same machine
- setup: gunicorn gateway with {result['workers']} gthread workers x {result['threads']} threads, one attendance
  service process (nameko, 10 workers), the directory test double; {result['clients']} client threads,
  {result['lessons']} lessons of 25 pupils, each registered once (2 absent, 1 late, 22 present)
- registrations per second: {result['registrations_per_second']:.1f}
- marks per second: {result['marks_per_second']:.0f}
- latency p50: {result['p50_ms']:.1f} ms, p99: {result['p99_ms']:.1f} ms
- failed requests: {result['failures']}; absence events written to the outbox: {result['events']}
"""
    with BENCHMARKS_FILE.open("a") as file:
        file.write(section)


def main() -> int:
    settings = Settings.from_env()
    admin = RabbitAdmin(settings.rabbit_api_uri)
    vhost = f"torget_bench_{uuid.uuid4().hex[:8]}"
    admin.create_vhost(vhost)
    amqp_uri = settings.amqp_uri.rstrip("/") + f"/{vhost}"
    databases = DatabaseFactory(os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    processes: list[subprocess.Popen] = []
    try:
        database_url = databases.create("attendance")
        lesson_ids = insert_lessons(database_url, LESSONS + 1)
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="torget-bench-") as workdir:
            processes = start_processes(amqp_uri, database_url, port, Path(workdir))
            base_url = f"http://127.0.0.1:{port}"
            wait_until_ready(base_url, lesson_ids.pop())
            latencies, failures, wall = run_clients(base_url, lesson_ids)
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)

        engine = make_engine(database_url)
        with engine.connect() as connection:
            events = connection.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
        engine.dispose()

        result = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": len(os.sched_getaffinity(0)),
            "cpu": cpu_model(),
            "workers": os.environ.get("GATEWAY_WORKERS", "2"),
            "threads": os.environ.get("GATEWAY_THREADS", "8"),
            "clients": CLIENTS,
            "lessons": len(lesson_ids),
            "registrations_per_second": len(latencies) / wall,
            "marks_per_second": len(latencies) * 25 / wall,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "failures": failures,
            "events": events,
        }
        print(result)
        append_result(result)
        return 1 if failures else 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        databases.drop_all()
        admin.delete_vhost(vhost)


if __name__ == "__main__":
    sys.exit(main())
