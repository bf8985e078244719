"""Base service class: database, correlation id and health RPC shared by every service."""

import logging

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from torget_shared.caller import CallerProvider, CallingService
from torget_shared.context import CONTEXT_KEY, new_correlation_id, reset_correlation_id, set_correlation_id
from torget_shared.db import Database
from torget_shared.outbox import count_by_state, write_event

log = logging.getLogger(__name__)


class ExpectedErrorWithoutTraceback(logging.Filter):
    """Logs a worker's expected exception, a refused client request, as one line without its traceback.

    nameko logs an exception that the entrypoint lists as expected at
    WARNING with the whole traceback. For a wrong id or a missing login the
    traceback only buries the lines that matter.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("(expected) error handling worker"):
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("nameko.containers").addFilter(ExpectedErrorWithoutTraceback())


class CorrelationTracker(DependencyProvider):
    """Carries the caller's correlation id into the worker's log lines and onward calls.

    The id arrives in the nameko context data (RPC headers, event headers);
    a worker started without one gets a new id. Whatever the worker calls or
    publishes carries the same id, because nameko forwards context data.
    """

    def __init__(self):
        self._tokens: dict = {}

    def get_dependency(self, worker_ctx) -> str:
        # nameko injects dependencies before it calls worker_setup.
        worker_ctx.data.setdefault(CONTEXT_KEY, new_correlation_id())
        return worker_ctx.data[CONTEXT_KEY]

    def worker_setup(self, worker_ctx) -> None:
        self._tokens[worker_ctx] = set_correlation_id(worker_ctx.data[CONTEXT_KEY])

    def worker_teardown(self, worker_ctx) -> None:
        token = self._tokens.pop(worker_ctx, None)
        if token is not None:
            try:
                reset_correlation_id(token)
            except ValueError:
                # Teardown ran in another greenthread than setup; nothing to undo there.
                set_correlation_id(None)


class EventOutbox(DependencyProvider):
    """Injects ``publish(session, event_type, payload)`` that writes to the outbox."""

    def get_dependency(self, worker_ctx):
        producer = self.container.service_name

        def publish(session, event_type: str, payload: dict, version: int | None = None) -> dict:
            return write_event(session, producer, event_type, payload, version)

        return publish


class ServiceBase:
    """Base of the five service classes.

    Subclasses set ``name``; the nameko dependency declarations below are
    bound per container, so the subclasses share the declarations only.
    """

    name: str

    db = Database()
    correlation_id = CorrelationTracker()
    events = EventOutbox()
    caller = CallerProvider()
    calling_service = CallingService()

    @rpc
    def health(self) -> dict:
        """Return the service status, a database check and the outbox row counts by state."""
        with self.db.transaction() as session:
            outbox = count_by_state(session.connection())
        return {"service": self.name, "status": "ok", "database": "ok", "outbox": outbox}
