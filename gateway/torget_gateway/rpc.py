"""A thread-safe pool of nameko standalone RPC clients.

The gateway runs in plain threads. Each client is one started
``ClusterRpcProxy`` with its own reply queue and reply connection, and a
thread borrows a client for exactly one call, so no two threads ever wait on
the same reply consumer. Requests go out through kombu's shared producer
pool. A client goes back to the pool only after a call that got a reply, and
any other outcome discards it.
"""

import logging
import threading
import time
from collections.abc import Mapping

import amqp.exceptions
import kombu
import kombu.exceptions
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

log = logging.getLogger(__name__)

# Errors that kombu and py-amqp raise when the broker is unreachable or drops
# a connection or channel. socket errors are OSError.
CONNECTION_ERRORS = (
    OSError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.ChannelError,
    kombu.exceptions.OperationalError,
)


class RpcError(Exception):
    """A call that got no reply from the service; ``service`` names it."""

    def __init__(self, service: str | None):
        super().__init__(service)
        self.service = service


class BrokerUnavailable(RpcError):
    """The broker could not be reached, or dropped the connection during the call."""


class ServiceUnavailable(RpcError):
    """No instance of the service consumes its RPC queue, or it is shutting down."""


class ServiceTimeout(RpcError):
    """The service did not reply within ``timeout`` seconds."""

    def __init__(self, service: str, timeout: float):
        super().__init__(service)
        self.timeout = timeout


class PoolExhausted(RpcError):
    """Every client of the pool stayed borrowed for ``timeout`` seconds."""

    def __init__(self, service: str, timeout: float):
        super().__init__(service)
        self.timeout = timeout


class RpcClient:
    """One started ``ClusterRpcProxy``, used by one thread at a time."""

    def __init__(self, amqp_uri: str, timeout: float):
        self._standalone = ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=timeout)
        # start() connects and declares the reply queue, so it raises when the
        # broker is unreachable.
        self._cluster = self._standalone.start()

    @property
    def _reply_consumer(self):
        # nameko 2.14.1 offers no public handle on the polling reply consumer.
        return self._standalone._reply_listener.queue_consumer

    def check_connection(self) -> None:
        """Raise one of CONNECTION_ERRORS unless the reply queue can still be consumed.

        A passive declare is one round trip on the reply consumer's channel.
        After the broker drops the connection it raises, so the pool can
        replace the client before a request is published whose reply would
        have no consumer.
        """
        self._reply_consumer.queue.queue_declare(passive=True)

    def call(self, service: str, method: str, args, kwargs, context_data: Mapping, timeout: float):
        # The polling consumer reads its timeout on every wait, and the worker
        # context's data becomes the request's headers, so both can be set per call.
        self._reply_consumer.timeout = timeout
        worker_data = self._standalone._worker_ctx.data
        worker_data.clear()
        worker_data.update(context_data)

        # NOTE: nameko's publisher lets kombu publish again after a connection
        # error (up to 3 times in nameko 2.14.1). That replaces a pooled producer
        # connection the broker closed earlier, but a request whose publisher
        # confirm was lost after the broker had routed it would arrive twice.
        return getattr(self._cluster[service], method)(*args, **kwargs)

    def stop(self) -> None:
        try:
            self._standalone.stop()
        except CONNECTION_ERRORS as exc:
            log.debug("Closing a broken RPC client failed: %s", exc)


class RpcClientPool:
    """Lends RPC clients to threads, at most ``size`` at once.

    ``timeout`` is the default seconds a call waits for its reply, and also
    how long a call waits for a free client when all are borrowed.
    """

    def __init__(self, amqp_uri: str, *, size: int, timeout: float):
        self.amqp_uri = amqp_uri
        self.size = size
        self.timeout = timeout
        self.clients_created = 0

        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[RpcClient] = []
        self._lock = threading.Lock()
        self._closed = False

    def call(
        self,
        service: str,
        method: str,
        args=(),
        kwargs=None,
        *,
        context_data: Mapping,
        timeout: float | None = None,
    ):
        """Call ``service.method`` and return its result within ``timeout`` seconds.

        Raises ServiceTimeout, ServiceUnavailable, BrokerUnavailable or
        PoolExhausted when no reply came, and nameko's RemoteError when the
        service raised. A request that may have been published is never sent
        again: only a failure before publishing leads to a retry, on a new client.
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=timeout):
            raise PoolExhausted(service, timeout)

        try:
            client = self._ready_client(service)
            # Waiting for a free client counts against the call's timeout.
            remaining = max(deadline - time.monotonic(), 0.001)
            return self._call_with(client, service, method, args, kwargs or {}, context_data, remaining, timeout)
        finally:
            self._slots.release()

    def _call_with(self, client, service, method, args, kwargs, context_data, remaining, timeout):
        started = time.perf_counter()
        try:
            result = client.call(service, method, args, kwargs, context_data, remaining)
        except RemoteError as exc:
            # The service raised, but the reply arrived, so the client is sound.
            self._give_back(client)
            if exc.exc_type == "ContainerBeingKilled":
                raise ServiceUnavailable(service) from exc
            raise
        except RpcTimeout as exc:
            # A late reply would land on this client's queue, so it is not reused.
            self._discard(client)
            log.warning("RPC %s.%s timed out after %.1f s", service, method, timeout)
            raise ServiceTimeout(service, timeout) from exc
        except UnknownService as exc:
            self._discard(client)
            log.warning("RPC %s.%s failed: no instance of %s is running", service, method, service)
            raise ServiceUnavailable(service) from exc
        except CONNECTION_ERRORS as exc:
            self._discard(client)
            log.warning("RPC %s.%s lost the broker connection: %s", service, method, exc)
            raise BrokerUnavailable(service) from exc
        except BaseException:
            self._discard(client)
            raise

        self._give_back(client)
        log.debug("RPC %s.%s took %.1f ms", service, method, (time.perf_counter() - started) * 1000)
        return result

    def _ready_client(self, service: str) -> RpcClient:
        """Return an idle client whose connection still works, or a new one."""
        while (client := self._take_idle()) is not None:
            try:
                client.check_connection()
                return client
            except CONNECTION_ERRORS as exc:
                log.warning("Replacing an RPC client whose broker connection broke: %s", exc)
                self._discard(client)

        try:
            client = RpcClient(self.amqp_uri, self.timeout)
        except CONNECTION_ERRORS as exc:
            log.warning("Could not connect an RPC client to the broker: %s", exc)
            raise BrokerUnavailable(service) from exc

        with self._lock:
            self.clients_created += 1
        return client

    def _take_idle(self) -> RpcClient | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _give_back(self, client: RpcClient) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(client)
                return
        client.stop()

    def _discard(self, client: RpcClient) -> None:
        client.stop()

    def check_broker(self, timeout: float) -> bool:
        """Return whether a new connection to the broker opens within ``timeout`` seconds."""
        connection = kombu.Connection(self.amqp_uri, connect_timeout=timeout)
        try:
            connection.ensure_connection(max_retries=0, timeout=timeout)
            return True
        except CONNECTION_ERRORS as exc:
            log.warning("The broker is unreachable: %s", exc)
            return False
        finally:
            connection.release()

    def close(self) -> None:
        """Stop the idle clients; clients still borrowed stop when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for client in idle:
            client.stop()
