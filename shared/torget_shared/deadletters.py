"""List and replay dead letters: events whose handler failed every retry.

    torget-dead-letters list [--queue QUEUE]
    torget-dead-letters replay QUEUE [--message-id ID]

``list`` shows each dead letter without taking it off its queue. ``replay``
moves dead letters back onto the handler's queue with the attempt count reset.
It acks a dead letter only after the broker confirmed the copy.
"""

import argparse
import json
import sys
from urllib.parse import quote, unquote, urlparse

import pika
import requests

from torget_shared.config import Settings
from torget_shared.handlers import ATTEMPT_HEADER, ERROR_HEADER, FAILED_AT_HEADER, ORIGIN_HEADER

DEAD_SUFFIX = ".dead"


def vhost_of(amqp_uri: str) -> str:
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def dead_letter_queues(rabbit_api_uri: str, vhost: str) -> list[str]:
    """Return the names of the dead-letter queues in ``vhost``, from the management API."""
    parsed = urlparse(rabbit_api_uri)
    base = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 15672}"
    response = requests.get(
        f"{base}/api/queues/{quote(vhost, safe='')}",
        params={"columns": "name"},
        auth=(unquote(parsed.username or "guest"), unquote(parsed.password or "guest")),
        timeout=10,
    )
    response.raise_for_status()
    return sorted(queue["name"] for queue in response.json() if queue["name"].endswith(DEAD_SUFFIX))


def _describe(queue_name: str, properties, body: bytes) -> dict:
    headers = properties.headers or {}
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = {}
    if not isinstance(envelope, dict):
        envelope = {}
    return {
        "queue": queue_name,
        "message_id": properties.message_id,
        "event_type": envelope.get("event_type"),
        "event_id": envelope.get("event_id"),
        "correlation_id": envelope.get("correlation_id"),
        "attempts": headers.get(ATTEMPT_HEADER),
        "failed_at": headers.get(FAILED_AT_HEADER),
        "error": headers.get(ERROR_HEADER),
    }


def list_dead_letters(amqp_uri: str, queue_names: list[str]) -> list[dict]:
    """Return a description of every dead letter; the messages stay on their queues."""
    letters = []
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        for queue_name in queue_names:
            while True:
                method, properties, body = channel.basic_get(queue_name, auto_ack=False)
                if method is None:
                    break
                letters.append(_describe(queue_name, properties, body))
            # Closing the channel returns every unacked message to its queue.
            channel.close()
            channel = connection.channel()
    finally:
        connection.close()
    return letters


def replay_dead_letters(amqp_uri: str, queue_name: str, message_id: str | None = None) -> int:
    """Move dead letters of ``queue_name`` back to their handler queue; return how many moved."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        waiting = channel.queue_declare(queue_name, passive=True).method.message_count

        replayed = 0
        for _ in range(waiting):
            method, properties, body = channel.basic_get(queue_name, auto_ack=False)
            if method is None:
                break
            if message_id is not None and properties.message_id != message_id:
                continue

            headers = dict(properties.headers or {})
            origin = headers.pop(ORIGIN_HEADER, None) or queue_name.removesuffix(DEAD_SUFFIX)
            for header in (ATTEMPT_HEADER, ERROR_HEADER, FAILED_AT_HEADER, "x-death"):
                headers.pop(header, None)
            properties.headers = headers

            # basic_publish raises if the broker does not confirm; the dead
            # letter then stays unacked and returns to its queue.
            channel.basic_publish(exchange="", routing_key=origin, body=body, properties=properties, mandatory=True)
            channel.basic_ack(method.delivery_tag)
            replayed += 1
        channel.close()
    finally:
        connection.close()
    return replayed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="List and replay events that failed every handler retry.")
    commands = parser.add_subparsers(dest="command", required=True)

    list_parser = commands.add_parser("list", help="show dead letters without removing them")
    list_parser.add_argument("--queue", help="one dead-letter queue (default: every queue ending in .dead)")

    replay_parser = commands.add_parser("replay", help="move dead letters back to their handler queue")
    replay_parser.add_argument("queue", help="the dead-letter queue, e.g. evt-attendance-absence_registered--messaging.send_sms.dead")
    replay_parser.add_argument("--message-id", help="replay only this message (default: all)")

    args = parser.parse_args(argv)
    settings = Settings.from_env()

    if args.command == "list":
        queues = [args.queue] if args.queue else dead_letter_queues(settings.rabbit_api_uri, vhost_of(settings.amqp_uri))
        for letter in list_dead_letters(settings.amqp_uri, queues):
            print(json.dumps(letter, ensure_ascii=False))
        return 0

    count = replay_dead_letters(settings.amqp_uri, args.queue, args.message_id)
    print(f"replayed {count} message(s) from {args.queue}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
