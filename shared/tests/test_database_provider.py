"""The nameko database provider: one session per worker, nothing left open."""

import logging

import sqlalchemy as sa
from nameko.rpc import rpc

from torget_shared.db import UTCDateTime, make_engine, utcnow
from torget_shared.service import ServiceBase
from torget_shared.testing.probe import wait_for


class SessionProbe(ServiceBase):
    name = "session_probe"

    @rpc
    def checked_out(self) -> int:
        with self.db.transaction() as session:
            session.execute(sa.text("SELECT 1"))
            return session.get_bind().pool.checkedout()


def test_sessions_closed_at_worker_teardown(start_service):
    service = start_service(SessionProbe, "identity")
    [database] = [dep for dep in service.container.dependencies if dep.attr_name == "db"]

    for _ in range(5):
        assert service.checked_out() >= 1

    # The reply goes out before the worker's teardown runs.
    wait_for(lambda: database._workers == {})
    # The outbox relay, woken by each commit, may hold a connection briefly.
    wait_for(lambda: database.engine.pool.checkedout() == 0)


def test_engine_disposed_at_stop(start_service, rabbit_config):
    service = start_service(SessionProbe, "identity")
    [database] = [dep for dep in service.container.dependencies if dep.attr_name == "db"]
    service.health()

    service.container.stop()

    assert database.relay._stopped.is_set()
    assert database.engine.pool.checkedin() == 0


def test_utc_datetime_round_trip_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UTCDateTime()))
    table.metadata.create_all(engine)
    now = utcnow()

    with engine.begin() as connection:
        connection.execute(table.insert().values(at=now))
        stored = connection.execute(sa.select(table.c.at)).scalar_one()

    assert stored == now
    assert stored.tzinfo is not None
    engine.dispose()


def test_sqlite_green_threads_take_turns(tmp_path):
    """A green thread that yields inside a write transaction holds up the others, but none fails with "database is locked".

    With one connection per green thread, the second writer would wait
    inside SQLite's busy handler, which blocks the whole process, the
    holder too, until the busy timeout ends in an error.
    """
    import eventlet

    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}", green=True)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)"))
        connection.execute(sa.text("INSERT INTO counter VALUES (1, 0)"))

    def add_one() -> None:
        with engine.begin() as connection:
            value = connection.execute(sa.text("SELECT value FROM counter WHERE id = 1")).scalar()
            eventlet.sleep(0.05)  # e.g. an RPC call made inside the transaction
            connection.execute(sa.text("UPDATE counter SET value = :value WHERE id = 1"), {"value": value + 1})

    pool = eventlet.GreenPool()
    for _ in range(20):
        pool.spawn(add_one)
    pool.waitall()

    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT value FROM counter")).scalar() == 20
    engine.dispose()


class Refusing(ServiceBase):
    name = "refusing_probe"

    @rpc(expected_exceptions=ValueError)
    def refuse(self) -> None:
        raise ValueError("no such thing")


def test_expected_error_is_logged_without_traceback(start_service, caplog):
    from nameko.exceptions import RemoteError

    service = start_service(Refusing, "identity")
    with caplog.at_level(logging.WARNING, logger="nameko.containers"):
        try:
            service.refuse()
        except RemoteError as error:
            assert error.exc_type == "ValueError"
        else:
            raise AssertionError("the call was not refused")
        wait_for(lambda: any(record.name == "nameko.containers" for record in caplog.records))

    [record] = [record for record in caplog.records if record.name == "nameko.containers"]
    assert record.levelno == logging.WARNING
    assert "no such thing" in record.getMessage()
    assert record.exc_info is None
