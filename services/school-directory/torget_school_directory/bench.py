"""Benchmark the SS 12000 import: the large generated municipality into a fresh PostgreSQL database.

Writes the measured records per second, with the command, the machine and
the date, as the "School directory import" section of the benchmarks page.
The database is created next to the one that TEST_DATABASE_URL (or
--admin-url) names, and dropped afterwards.
"""

import argparse
import os
import platform
import re
import sys
import tempfile
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa

from torget_shared.db import make_engine, normalize_url
from torget_shared.migrations import upgrade

from torget_school_directory.generator import generate, write_dump
from torget_school_directory.importer import Importer
from torget_school_directory.pin import PinProtector
from torget_school_directory.sources import DumpSource

SECTION = "## School directory import"
COMMAND = "make bench-directory"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read(), re.MULTILINE)
            cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB memory, Python {platform.python_version()}"


def _section(result: dict) -> str:
    return "\n".join(
        [
            SECTION,
            "",
            "The generated large municipality (seed 12000) imported from a JSON dump into an empty,",
            "migrated PostgreSQL database with `torget_school_directory.importer.Importer`, then",
            "imported again unchanged. A record is one SS 12000 object of any entity; a person's",
            "enrolments and responsibles count as part of the person.",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| records | {result['records']:,} |",
            f"| first import | {result['first_seconds']:.1f} s, **{result['first_rate']:,.0f} records/s** |",
            f"| unchanged re-import | {result['rerun_seconds']:.1f} s, {result['rerun_rate']:,.0f} records/s |",
            f"| events written to the outbox | {result['events']:,} |",
            f"| command | `{COMMAND}` |",
            f"| machine | {result['machine']} |",
            f"| PostgreSQL | {result['postgres']} |",
            f"| date | {result['date']} |",
            "",
        ]
    )


def write_section(path: str, section: str) -> None:
    """Replace this benchmark's section of ``path``, or append it; create the page if missing."""
    content = "# Benchmarks\n\n"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as page:
            content = page.read()
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(content):
        content = pattern.sub(lambda _match: section + "\n", content).rstrip("\n") + "\n"
    else:
        content = content.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as page:
        page.write(content)


def run(admin_url: str, size: str) -> dict:
    admin = sa.create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"torget_bench_directory_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(normalize_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade("school_directory", url)
        data = generate(12000, size)
        engine = make_engine(url)
        with tempfile.TemporaryDirectory() as folder:
            write_dump(data, folder)
            importer = Importer(engine, PinProtector(os.urandom(32), os.urandom(32)))
            first = importer.run(DumpSource(folder))
            rerun = importer.run(DumpSource(folder))
        with engine.connect() as connection:
            events = connection.scalar(sa.text("SELECT count(*) FROM outbox"))
            postgres = connection.scalar(sa.text("SHOW server_version"))
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    if first.status != "complete" or rerun.changes != 0:
        raise RuntimeError(f"the benchmark import did not run cleanly: {first.error or rerun.to_dict()}")
    return {
        "records": first.records,
        "first_seconds": first.seconds,
        "first_rate": first.records / first.seconds,
        "rerun_seconds": rerun.seconds,
        "rerun_rate": rerun.records / rerun.seconds,
        "events": events,
        "machine": _machine(),
        "postgres": postgres,
        "date": datetime.now(timezone.utc).date().isoformat(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the SS 12000 import into PostgreSQL.")
    parser.add_argument("--admin-url", default=os.environ.get("TEST_DATABASE_URL"), help="PostgreSQL URL with CREATE DATABASE rights (default TEST_DATABASE_URL)")
    parser.add_argument("--size", default="large", help="generated municipality size (default large)")
    parser.add_argument("--output", default="docs/benchmarks.md", help="page to write the result to")
    args = parser.parse_args(argv)
    if not args.admin_url:
        parser.error("set TEST_DATABASE_URL or pass --admin-url, e.g. postgresql://postgres@127.0.0.1:5432/postgres")

    result = run(args.admin_url, args.size)
    write_section(args.output, _section(result))
    print(f"{result['records']} records in {result['first_seconds']:.1f} s: {result['first_rate']:.0f} records/s; written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
