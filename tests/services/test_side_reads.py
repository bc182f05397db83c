"""Side reads (`Database.read_beside`): a request's second read, on a session of its own,
runs beside the first on PostgreSQL while the process has nothing else to do, and in
turn on the caller's session otherwise (a busy process, SQLite, one connection, a request
that wrote); what it read or raised reaches the caller."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from kernel.platform.db import Database
from lodge.migrations import upgrade
from services.inventory.models import Collection
from services.inventory.records import seed_collections
from tests.support.system import poll_until


@pytest.fixture
def pooled(postgres_database):
    """An inventory database on PostgreSQL with a pool of connections, as services have."""
    url = postgres_database("side_reads")
    upgrade("inventory", url)
    database = Database(url, "inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    yield database
    database.dispose()


def collection_read_on(ran_on: list[int], started: threading.Event | None = None):
    def work(session):
        ran_on.append(threading.get_ident())
        if started is not None:
            started.set()
        return session.get(Collection, "theses")

    return work


def test_a_side_read_runs_beside_the_caller_and_hands_over_what_it_read(pooled):
    ran_on: list[int] = []
    started = threading.Event()
    with pooled.reading() as session:
        side = pooled.read_beside(session, collection_read_on(ran_on, started))
        assert started.wait(10), "the side read waited for its result to be asked for"
        theses = side.result()
    assert ran_on != [threading.get_ident()]
    # detached as it was loaded: readable after its session closed
    assert theses.id == "theses" and theses.set_spec == "theses"


def test_a_busy_process_reads_in_turn_on_the_callers_session(pooled):
    ran_on: list[int] = []
    with pooled.engine.connect() as other, pooled.reading() as session:
        other.execute(select(1))  # another request's connection
        side = pooled.read_beside(session, collection_read_on(ran_on))
        held = pooled.engine.pool.checkedout()
        assert side.result() is session.get(Collection, "theses")  # the caller's own
        assert pooled.engine.pool.checkedout() == held == 2  # no third connection
    assert ran_on == [threading.get_ident()]


def test_a_request_that_wrote_reads_its_own_writes_in_turn(pooled):
    ran_on: list[int] = []
    pooled.serving_call("request-1")
    try:
        with pooled.tracking_writes():
            with pooled.unit_of_work() as uow:
                uow.session.get(Collection, "theses").name = "Theses, renamed"
            with pooled.reading() as session:
                side = pooled.read_beside(session, collection_read_on(ran_on))
                assert side.result().name == "Theses, renamed"
    finally:
        pooled.serving_call(None)
    assert ran_on == [threading.get_ident()]


def side_backends(admin, statement: str) -> list[int]:
    return admin.scalars(
        text("SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query = :q"),
        {"q": statement},
    ).all()


def test_a_side_read_that_lost_its_connection_says_so_as_the_read_retry_expects(pooled):
    """The RPC entrypoint reads again after an error whose connection was invalidated."""
    statement = "SELECT 'lost', pg_sleep(600)"
    with pooled.reading() as session:
        side = pooled.read_beside(session, lambda own: own.execute(text(statement)).all())
        with pooled.engine.connect() as admin:  # a third connection, once the side read began
            backends = poll_until(lambda: side_backends(admin, statement), description="it")
            for pid in backends:
                admin.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
        with pytest.raises(OperationalError) as lost:
            side.result()
    assert lost.value.connection_invalidated
    # the pool's next connection is a fresh one, and the next side read runs beside again
    ran_on: list[int] = []
    with pooled.reading() as session:
        assert pooled.read_beside(session, collection_read_on(ran_on)).result().id == "theses"
    assert ran_on != [threading.get_ident()]


def test_what_a_side_read_raises_reaches_the_caller_and_frees_its_place(pooled):
    def fails(session):
        session.execute(select(1))
        raise LookupError("no such thing")

    for _ in range(3):  # more than SIDE_READS: each one's place is given back
        ran_on: list[int] = []
        with pooled.reading() as session:
            with pytest.raises(LookupError, match="no such thing"):
                pooled.read_beside(session, fails).result()
            assert pooled.read_beside(session, collection_read_on(ran_on)).result()
        assert ran_on != [threading.get_ident()]


def test_a_side_read_without_a_thread_runs_in_turn_and_frees_its_place(pooled, monkeypatch):
    def no_thread(thread):
        raise RuntimeError("can't start new thread")

    ran_on: list[int] = []
    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", no_thread)
        for _ in range(3):
            with pooled.reading() as session:
                assert pooled.read_beside(session, collection_read_on(ran_on)).result()
    assert ran_on == [threading.get_ident()] * 3
    with pooled.reading() as session:
        assert pooled.read_beside(session, collection_read_on(ran_on)).result()
    assert ran_on[-1] != threading.get_ident()


def test_in_turn_a_discarded_read_never_runs(database_for):
    """SQLite (one writer's lock), and the tests' one connection on PostgreSQL."""
    database = database_for("inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    ran_on: list[int] = []
    with database.reading() as session:
        database.read_beside(session, collection_read_on(ran_on)).discard()
        assert ran_on == []
        side = database.read_beside(session, collection_read_on(ran_on))
        assert side.result() is session.get(Collection, "theses")
    assert ran_on == [threading.get_ident()]
