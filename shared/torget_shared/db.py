"""SQLAlchemy 2 engine, sessions and the nameko database dependency.

Each service declares its tables on its own ``MetaData``. The outbox and inbox
tables are added to that metadata by :func:`add_platform_tables`, so one
Alembic history per service creates them together with the domain tables.
"""

import logging
from contextlib import contextmanager

from nameko.extensions import DependencyProvider
from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

# Seconds a green thread waits for the SQLite connection before the call fails.
SQLITE_POOL_TIMEOUT = 30

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and read back as an aware datetime.

    SQLite keeps no time zone, so values are normalised to UTC on the way in
    and marked as UTC on the way out; PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; pass an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def normalize_url(url: str) -> str:
    """Make a plain ``postgresql://`` URL use psycopg2.

    SQLAlchemy 2.1 picks psycopg 3 for a plain URL; the services use psycopg2
    because psycogreen makes it cooperate with eventlet.
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, green: bool = False) -> Engine:
    """Create an engine for ``url``.

    With ``green=True`` (inside a nameko service) psycopg2 is made to
    cooperate with eventlet, so one worker waiting on PostgreSQL does not
    block the others.
    """
    url = normalize_url(url)
    if url.startswith("postgresql") and green:
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()

    if url.startswith("sqlite"):
        # SQLite lets one connection write at a time, and a connection that
        # finds the file locked waits inside SQLite, which blocks every green
        # thread of the process, the lock holder's too, for the whole busy
        # timeout. One pooled connection per engine makes green threads queue
        # for it cooperatively instead; WAL lets other processes read while
        # one writes.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_POOL_TIMEOUT,
        )
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine

    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class WorkerDatabase:
    """Database access of one worker: a session opened on first use."""

    def __init__(self, session_factory: sessionmaker, on_commit):
        self._session_factory = session_factory
        self._on_commit = on_commit
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._session_factory()
            event.listen(self._session, "after_commit", lambda _session: self._on_commit())
        return self._session

    @contextmanager
    def transaction(self):
        """Yield the session inside a transaction: commit on success, roll back on error."""
        with self.session.begin():
            yield self.session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class Database(DependencyProvider):
    """One session per worker, closed at teardown; the engine is disposed at stop.

    The provider also runs the service's outbox relay, because the relay
    needs the same engine and is woken by every commit.
    """

    def __init__(self, relay_outbox: bool = True):
        self.relay_outbox = relay_outbox
        self.engine: Engine | None = None
        self.session_factory: sessionmaker | None = None
        self.relay = None
        self._workers: dict = {}

    def setup(self) -> None:
        from torget_shared.config import Settings, database_url
        from torget_shared.outbox import OutboxRelay

        config = self.container.config
        url = config.get("DATABASE_URL") or database_url(self.container.service_name)
        self.engine = make_engine(url, green=True)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)

        if self.relay_outbox:
            settings = Settings.from_env()
            self.relay = OutboxRelay(
                engine=self.engine,
                amqp_uri=config["AMQP_URI"],
                producer=self.container.service_name,
                poll_interval=float(config.get("OUTBOX_POLL_INTERVAL", settings.outbox_poll_interval)),
                lease=float(config.get("OUTBOX_LEASE", settings.outbox_lease)),
                retry_delays=settings.outbox_retry_delays,
            )

    def start(self) -> None:
        if self.relay is not None:
            self.container.spawn_managed_thread(self.relay.run, identifier="outbox_relay")

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.engine is not None:
            self.engine.dispose()
        log.info("database engine disposed", extra={"service_name": self.container.service_name})

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx) -> WorkerDatabase:
        worker_db = WorkerDatabase(self.session_factory, self._after_commit)
        self._workers[worker_ctx] = worker_db
        return worker_db

    def worker_teardown(self, worker_ctx) -> None:
        worker_db = self._workers.pop(worker_ctx, None)
        if worker_db is not None:
            worker_db.close()

    def _after_commit(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
