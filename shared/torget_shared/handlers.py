"""Event handlers that retry with back-off and end in a dead-letter queue.

nameko acks the message of a handler that raised and drops it. The handler
here instead republishes the message to a retry queue whose TTL is the next
back-off delay. When the TTL runs out, RabbitMQ dead-letters it back onto the
handler's queue. After the last delay the message goes to ``<queue>.dead``,
where ``torget-dead-letters`` lists and replays it. The original message is
acked only after the republish is confirmed, so a crash in between repeats
the message rather than losing it.

Queues for the handler ``evt-<source>-<type>--<service>.<method>``:

- ``<queue>.retry.<delay>ms``: holds a failed message for one back-off delay;
- ``<queue>.dead``: messages that failed every attempt or were malformed.
"""

import logging
import traceback
from datetime import datetime, timezone

from kombu import Connection, Exchange, Queue
from marshmallow import ValidationError
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler

from torget_shared.config import Settings
from torget_shared.context import CONTEXT_KEY
from torget_shared.events import UnknownEventType, load_envelope

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-torget-attempt"
ERROR_HEADER = "x-torget-error"
ORIGIN_HEADER = "x-torget-origin-queue"
FAILED_AT_HEADER = "x-torget-failed-at"
DEFAULT_EXCHANGE = Exchange("")


class PermanentError(Exception):
    """A failure that no retry can mend; the message goes straight to the dead-letter queue."""


def retry_queue(queue_name: str, delay: float) -> Queue:
    """Return the queue that keeps a failed message for ``delay`` seconds.

    The delay is part of the name because RabbitMQ refuses to redeclare a
    queue with another TTL: a changed delay gets a queue of its own.
    """
    delay_ms = int(delay * 1000)
    return Queue(
        f"{queue_name}.retry.{delay_ms}ms",
        exchange=DEFAULT_EXCHANGE,
        routing_key=f"{queue_name}.retry.{delay_ms}ms",
        durable=True,
        queue_arguments={
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name,
        },
    )


def dead_letter_queue(queue_name: str) -> Queue:
    return Queue(f"{queue_name}.dead", exchange=DEFAULT_EXCHANGE, routing_key=f"{queue_name}.dead", durable=True)


def _configured_delays(config: dict) -> tuple[float, ...]:
    configured = config.get("HANDLER_RETRY_DELAYS")
    if configured:
        if isinstance(configured, str):
            return tuple(float(part) for part in configured.split(",") if part.strip())
        return tuple(float(delay) for delay in configured)
    return Settings.from_env().handler_retry_delays


class ReliableEventHandler(EventHandler):
    """An event handler that receives the validated envelope and never drops a message."""

    def setup(self) -> None:
        super().setup()
        self.retry_delays = _configured_delays(self.container.config)
        self.retry_queues = [retry_queue(self.queue.name, delay) for delay in self.retry_delays]
        self.dead_queue = dead_letter_queue(self.queue.name)
        self.publisher = Publisher(self.container.config["AMQP_URI"], use_confirms=True)

    def start(self) -> None:
        with Connection(self.container.config["AMQP_URI"]) as connection:
            self.declare(connection)
        super().start()

    def declare(self, connection: Connection) -> None:
        """Declare the handler's queue, binding, retry and dead-letter queues."""
        channel = connection.default_channel
        self.queue(channel).declare()
        for queue in [*self.retry_queues, self.dead_queue]:
            queue(channel).declare()

    @property
    def consumer_name(self) -> str:
        return f"{self.container.service_name}.{self.method_name}"

    def handle_message(self, body, message) -> None:
        context_data = self.unpack_message_headers(message)
        try:
            envelope = load_envelope(body)
        except (ValidationError, UnknownEventType, TypeError) as exc:
            log.error(
                "malformed event moved to the dead-letter queue: %s",
                exc,
                extra={"queue": self.queue.name, "message_id": message.properties.get("message_id")},
            )
            self._dead_letter(message, body, 0, f"malformed event: {exc}")
            return

        context_data.setdefault(CONTEXT_KEY, envelope["correlation_id"])
        try:
            self.container.spawn_worker(
                self,
                (envelope,),
                {},
                context_data=context_data,
                handle_result=lambda worker_ctx, result, exc_info: self.handle_result(
                    message, worker_ctx, result, exc_info
                ),
            )
        except Exception:
            # The container is shutting down; give the message back.
            self.queue_consumer.requeue_message(message)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info

        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0)) + 1
        permanent = issubclass(exc_info[0], PermanentError)

        try:
            if permanent or attempt > len(self.retry_delays):
                self._dead_letter(message, message.payload, attempt, error)
            else:
                self._schedule_retry(message, attempt, error)
        except Exception:
            log.exception("could not move a failed event aside; requeueing it", extra={"queue": self.queue.name})
            self.queue_consumer.requeue_message(message)
        return result, exc_info

    def _schedule_retry(self, message, attempt: int, error: str) -> None:
        queue = self.retry_queues[attempt - 1]
        log.warning(
            "event handler failed, retry %d of %d in %.1f s: %s",
            attempt,
            len(self.retry_delays),
            self.retry_delays[attempt - 1],
            error,
            extra={"queue": self.queue.name, "message_id": message.properties.get("message_id")},
        )
        self._republish(message, message.payload, queue, attempt, error)

    def _dead_letter(self, message, body, attempt: int, error: str) -> None:
        log.error(
            "event moved to the dead-letter queue after %d attempts: %s",
            attempt,
            error,
            extra={"queue": self.queue.name, "message_id": message.properties.get("message_id")},
        )
        self._republish(message, body, self.dead_queue, attempt, error)

    def _republish(self, message, body, queue: Queue, attempt: int, error: str) -> None:
        headers = dict(message.headers or {})
        headers.pop("x-death", None)
        headers.update(
            {
                ATTEMPT_HEADER: attempt,
                ERROR_HEADER: error[:1000],
                ORIGIN_HEADER: self.queue.name,
                FAILED_AT_HEADER: datetime.now(timezone.utc).isoformat(),
            }
        )
        self.publisher.publish(
            body,
            exchange=DEFAULT_EXCHANGE,
            routing_key=queue.name,
            headers=headers,
            message_id=message.properties.get("message_id"),
            declare=[queue],
        )
        # Acked only after the broker confirmed the copy.
        self.queue_consumer.ack_message(message)


event_handler = ReliableEventHandler.decorator
