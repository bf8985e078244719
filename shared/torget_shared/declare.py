"""Declare every event handler's queues before any service starts.

nameko declares a handler's queue only when its service starts, and an event
published before then has no queue to land in. Running this at deploy time
binds every queue first, so no event published later is dropped.
"""

import argparse
import importlib
import logging
import sys

from kombu import Connection
from nameko.containers import ServiceContainer

from torget_shared.config import Settings
from torget_shared.handlers import ReliableEventHandler

log = logging.getLogger(__name__)


def load_service_class(path: str):
    module_name, _, class_name = path.partition(":")
    if not class_name:
        raise ValueError(f"expected module:Class, got {path!r}")
    return getattr(importlib.import_module(module_name), class_name)


def declare_service_queues(service_cls, amqp_uri: str, extra_config: dict | None = None) -> list[str]:
    """Declare the queues of ``service_cls``'s event handlers and return their names."""
    config = {"AMQP_URI": amqp_uri, **(extra_config or {})}
    container = ServiceContainer(service_cls, config)

    declared = []
    with Connection(amqp_uri) as connection:
        for entrypoint in container.entrypoints:
            if isinstance(entrypoint, ReliableEventHandler):
                entrypoint.setup()
                entrypoint.declare(connection)
                declared.append(entrypoint.queue.name)
    return declared


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Declare the event queues of nameko services.")
    parser.add_argument("services", nargs="+", help="service classes as module:Class")
    args = parser.parse_args(argv)
    amqp_uri = Settings.from_env().amqp_uri

    for path in args.services:
        for queue_name in declare_service_queues(load_service_class(path), amqp_uri):
            print(f"declared {queue_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
