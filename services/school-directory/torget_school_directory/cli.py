"""The torget-directory-import command: run an SS 12000 import and print its report.

It writes to the database that SCHOOL_DIRECTORY_DATABASE_URL names (default
the SQLite file under TORGET_VAR_DIR). The events of the import wait in the
outbox until the running school_directory service relays them.
"""

import argparse
import json
import logging
import os
import sys

from torget_shared.config import database_url
from torget_shared.db import make_engine

from torget_school_directory.importer import Importer
from torget_school_directory.pin import protector_from_env
from torget_school_directory.sources import ApiSource, DumpSource, SourceError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Import SS 12000 v2.1 data into the school directory.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dump", help="a JSON dump: a folder of <entity>.json files or one file keyed by entity")
    source.add_argument("--api", help="base URL of a live SS 12000 API, e.g. https://ss12000.example.se/v2.1")
    parser.add_argument(
        "--token-env",
        default="DIRECTORY_SS12000_TOKEN",
        help="environment variable that holds the API's bearer token (default DIRECTORY_SS12000_TOKEN)",
    )
    parser.add_argument("--database-url", help="database URL (default: the school_directory service's)")
    parser.add_argument("--batch-size", type=int, default=1000, help="records per transaction (default 1000)")
    parser.add_argument("--page-size", type=int, default=1000, help="records per API page (default 1000)")
    parser.add_argument("--full-report", action="store_true", help="print every listed rejection, not the first 20")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(message)s")

    try:
        if args.dump:
            source = DumpSource(args.dump)
        else:
            source = ApiSource(args.api, os.environ.get(args.token_env), page_size=args.page_size)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    engine = make_engine(args.database_url or database_url("school_directory"))
    try:
        report = Importer(engine, protector_from_env(), batch_size=args.batch_size).run(source).to_dict()
    finally:
        engine.dispose()

    if not args.full_report and len(report["rejected"]) > 20:
        report["rejected_not_listed"] += len(report["rejected"]) - 20
        report["rejected"] = report["rejected"][:20]
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["status"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
