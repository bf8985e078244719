"""`make demo`: start a local stack, load a generated municipality and walk a guardian's journey over HTTP.

The stack runs on a RabbitMQ vhost of its own, made through the management
API at RABBIT_API_URI and removed at the end. Its SQLite files are under
var/demo and every server listens on a free port, so it does not disturb a
stack that `make run` started. Everything started is stopped at the end.
"""

import argparse
import functools
import os
import shutil
import sys
from pathlib import Path

from torget_shared.config import database_url
from torget_tools.journey import Endpoints, Gateway, Journey, JourneyError, Municipality, wait_for_outboxes_drained
from torget_tools.stack import REPO_ROOT, run_tool, running_stack


def load_municipality(env: dict, dump_dir: Path, say=print) -> Municipality:
    """Generate the SS 12000 dump, import it into the directory, and return it."""
    run_tool(["torget-directory-generate", dump_dir], env)
    say(f"   generated the municipality as an SS 12000 dump in {dump_dir}")
    run_tool(["torget-directory-import", "--dump", dump_dir], env)
    say("   imported it into the school directory (torget-directory-import)")
    return Municipality(dump_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the guardian's journey end to end on a local stack of its own.")
    parser.add_argument("--var-dir", default=str(REPO_ROOT / "var" / "demo"), help="folder for the stack's files (emptied first)")
    args = parser.parse_args(argv)

    var_dir = Path(args.var_dir)
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    amqp_uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    api_uri = os.environ.get("RABBIT_API_URI", "http://guest:guest@127.0.0.1:15672")

    print(f"0. Starting the local stack (log: {var_dir / 'stack.log'})", flush=True)
    try:
        with running_stack(amqp_uri, api_uri, var_dir) as stack:
            print(f"   the gateway is ready at {stack.gateway_url}", flush=True)
            municipality = load_municipality(stack.env, var_dir / "dump", say=functools.partial(print, flush=True))
            print("   waiting for the directory's events to reach the other services", flush=True)
            gateway = Gateway(Endpoints.from_env(stack.env))
            wait_for_outboxes_drained(gateway)
            say = functools.partial(print, flush=True)
            Journey(gateway, municipality, say=say, audit_database_url=database_url("documents", stack.env)).run()
        print("The journey is complete; the stack is stopped and nothing is left running.")
        return 0
    except (JourneyError, RuntimeError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
