"""Benchmark: from publishing ``absence_registered`` to the SMS sink receiving the SMS.

    python -m torget_messaging.bench [--rate 20] [--seconds 15] [--burst 300] [--output docs/benchmarks.md]

Runs against the RabbitMQ and PostgreSQL the tests use (AMQP_URI,
RABBIT_API_URI, TEST_DATABASE_URL), in a vhost and a database of its own that
it removes afterwards. One messaging service container runs in this process
with the SMS sink on 127.0.0.1. Each event is for its own child with one
guardian, so the sink's recipient number identifies the event of each SMS.

Phase 1 publishes at a steady rate and reports the p50 and p99 latency.
Phase 2 publishes a burst at once and reports notices per second until the
last SMS arrives. The result is appended as a section to ``--output``.
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from urllib.parse import urlparse, urlunparse  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402

from torget_messaging.models import contact, guardianship, person  # noqa: E402
from torget_messaging.service import MessagingService  # noqa: E402
from torget_messaging.sms_sink import SmsSink  # noqa: E402
from kombu import Connection  # noqa: E402
from nameko.standalone.events import get_event_exchange  # noqa: E402

from torget_shared import contracts  # noqa: E402,F401  (registers the event schemas)
from torget_shared.events import build_envelope  # noqa: E402
from torget_shared.db import make_engine, normalize_url, utcnow  # noqa: E402
from torget_shared.declare import declare_service_queues  # noqa: E402
from torget_shared.migrations import upgrade  # noqa: E402
from torget_shared.testing.plugin import RabbitAdmin  # noqa: E402

CUSTODY = "Vårdnadshavare"


def seed_households(database_url: str, count: int) -> list[tuple[str, str]]:
    """Insert ``count`` children with one guardian each; return (child id, mobile) pairs."""
    engine = make_engine(database_url)
    households = []
    now = utcnow()
    with engine.begin() as connection:
        for index in range(count):
            child_id, guardian_id = str(uuid.uuid4()), str(uuid.uuid4())
            mobile = f"+4670{index:07d}"
            connection.execute(sa.insert(person).values(person_id=child_id, given_name="Barn", family_name=f"Nr{index}", protected_identity=False, source_occurred_at=now))
            connection.execute(sa.insert(guardianship).values(child_person_id=child_id, guardian_person_id=guardian_id, custody=True, active=True, source_occurred_at=now))
            connection.execute(
                sa.insert(contact).values(
                    person_id=guardian_id, mobile=mobile, email=None, language="sv", sms_enabled=True, email_enabled=True, protected_identity=False, source_occurred_at=now
                )
            )
            households.append((child_id, mobile))
    engine.dispose()
    return households


def absence(child_id: str) -> dict:
    return {
        "registration_id": str(uuid.uuid4()),
        "child_person_id": child_id,
        "unit_id": "bench-unit",
        "lesson_id": "lesson-1",
        "lesson_name": "Matematik",
        "local_date": "2026-12-07",
        "local_start_time": "08:15:00",
        "local_end_time": "09:00:00",
        "kind": "absent",
        "late_minutes": None,
    }


def bind_notification_queue(amqp_uri: str) -> None:
    """Bind a queue for messaging's own events, as a consumer of them would in production.

    Without one, the outbox relay would retry every notification_delivered
    event as unroutable, which no deployment with a consumer does.
    """
    from kombu import Queue

    exchange = get_event_exchange("messaging", {})
    with Connection(amqp_uri) as connection:
        channel = connection.default_channel
        exchange(channel).declare()
        for event_type in ("notification_delivered", "notification_failed"):
            Queue(f"bench-{event_type}", exchange=exchange, routing_key=event_type, durable=False)(channel).declare()


def wait_for_sms(sink: SmsSink, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.messages) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(sink.messages)} of {count} SMS arrived within {timeout} s")
        time.sleep(0.05)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_phase(amqp_uri: str, sink: SmsSink, households: list[tuple[str, str]], rate: float | None) -> dict:
    sink.state.messages.clear()
    published_at = {}
    exchange = get_event_exchange("attendance", {})
    with Connection(amqp_uri) as connection:
        producer = connection.Producer()
        started = time.time()
        for index, (child_id, mobile) in enumerate(households):
            if rate:
                # Publish on a fixed schedule, so a slow publish does not lower the rate.
                delay = started + index / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            envelope = build_envelope("attendance", "absence_registered", absence(child_id))
            published_at[mobile] = time.time()
            producer.publish(envelope, exchange=exchange, routing_key="absence_registered", serializer="json", message_id=envelope["event_id"])
        wait_for_sms(sink, len(households), timeout=120)

    received = {message["to"]: message["received_at"] for message in sink.messages}
    latencies = [(received[mobile] - published_at[mobile]) * 1000 for mobile in published_at]
    return {
        "count": len(households),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies),
        "notices_per_second": len(households) / (max(received.values()) - started),
    }


def cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def write_section(output: str, args, steady: dict, burst: dict) -> str:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    section = f"""
## Messaging: absence_registered to SMS at the sink ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)

- command: `make bench-messaging` (python -m torget_messaging.bench --rate {args.rate:g} --seconds {args.seconds:g} --burst {args.burst})
- machine: {nproc} CPUs (`nproc`), {cpu_model()}; RabbitMQ, PostgreSQL and the SMS sink on the same machine
- setup: one messaging service container (nameko, {args.max_workers} workers) in the benchmark process,
  the SMS sink over HTTP on 127.0.0.1; one guardian with a mobile number per child, no e-mail
- steady rate {args.rate:g} events/s for {args.seconds:g} s ({steady['count']} events): latency p50 {steady['p50_ms']:.1f} ms,
  p99 {steady['p99_ms']:.1f} ms, mean {steady['mean_ms']:.1f} ms
- burst of {burst['count']} events published at once: {burst['notices_per_second']:.1f} notices/s until the last SMS,
  latency p50 {burst['p50_ms']:.1f} ms, p99 {burst['p99_ms']:.1f} ms
"""
    with open(output, "a", encoding="utf-8") as benchmarks:
        benchmarks.write(section)
    return section


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Measure absence notice latency and throughput to the SMS sink.")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second in the steady phase")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the steady phase in seconds")
    parser.add_argument("--burst", type=int, default=300, help="events published at once in the burst phase")
    parser.add_argument("--max-workers", type=int, default=10, help="nameko workers of the service")
    parser.add_argument("--output", default="docs/benchmarks.md", help="the file the result is appended to")
    args = parser.parse_args(argv)

    amqp_base = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    admin = RabbitAdmin(os.environ.get("RABBIT_API_URI", "http://guest:guest@127.0.0.1:15672"))
    admin_url = normalize_url(os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))

    vhost = f"torget_bench_{uuid.uuid4().hex[:8]}"
    database = f"torget_bench_messaging_{uuid.uuid4().hex[:8]}"
    amqp_uri = urlunparse(urlparse(amqp_base)._replace(path=f"/{vhost}"))
    database_url = sa.make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    admin_engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")

    admin.create_vhost(vhost)
    with admin_engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    sink = SmsSink("127.0.0.1", 0, "torget", "bench").start()
    container = None
    try:
        upgrade("messaging", database_url)
        steady_count = int(args.rate * args.seconds)
        households = seed_households(database_url, steady_count + args.burst)
        declare_service_queues(MessagingService, amqp_uri)
        bind_notification_queue(amqp_uri)
        container = ServiceContainer(
            MessagingService,
            {
                "AMQP_URI": amqp_uri,
                "DATABASE_URL": database_url,
                "max_workers": args.max_workers,
                "SMS_API_URL": sink.url,
                "SMS_API_USERNAME": "torget",
                "SMS_API_PASSWORD": "bench",
                "SMTP_PORT": 9,
                "DELIVERY_SWEEP_INTERVAL": 1.0,
            },
        )
        container.start()

        steady = run_phase(amqp_uri, sink, households[:steady_count], args.rate)
        burst = run_phase(amqp_uri, sink, households[steady_count:], None)
        print(write_section(args.output, args, steady, burst))
    finally:
        if container is not None:
            container.stop()
        sink.stop()
        admin.delete_vhost(vhost)
        with admin_engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin_engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
