"""The nameko database provider: one session per worker, nothing left open."""

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
