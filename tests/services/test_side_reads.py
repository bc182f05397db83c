"""Side reads (`Database.read_beside`): a request's second read, on a session of its own,
runs beside the first on PostgreSQL while the process has nothing else to do, and in
turn otherwise (a busy process, SQLite, one connection); what it read or raised reaches
the caller."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from kernel.platform.db import Database
from lodge.migrations import upgrade
from services.inventory.models import Collection
from services.inventory.records import seed_collections


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
        session.execute(select(1))  # the caller holds its connection
        side = pooled.read_beside(collection_read_on(ran_on, started))
        assert started.wait(10), "the side read waited for its result to be asked for"
        theses = side.result()
    assert ran_on != [threading.get_ident()]
    # detached as it was loaded: readable after its session closed
    assert theses.id == "theses" and theses.set_spec == "theses"


def test_a_busy_process_reads_in_turn(pooled):
    ran_on: list[int] = []
    with pooled.engine.connect() as other, pooled.reading() as session:
        other.execute(select(1))  # another request's connection
        session.execute(select(1))
        side = pooled.read_beside(collection_read_on(ran_on))
        assert side.result().id == "theses"
    assert ran_on == [threading.get_ident()]


def test_what_a_side_read_raises_reaches_the_caller(pooled):
    def fails(session):
        session.execute(select(1))
        raise LookupError("no such thing")

    side = pooled.read_beside(fails)
    with pytest.raises(LookupError, match="no such thing"):
        side.result()
    # its connection went back: the next one runs beside again
    ran_on: list[int] = []
    assert pooled.read_beside(collection_read_on(ran_on)).result().id == "theses"
    assert ran_on != [threading.get_ident()]


def test_in_turn_a_discarded_read_never_runs(database_for):
    """SQLite (one writer's lock), and the tests' one connection on PostgreSQL."""
    database = database_for("inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    ran_on: list[int] = []
    database.read_beside(collection_read_on(ran_on)).discard()
    assert ran_on == []
    assert database.read_beside(collection_read_on(ran_on)).result().id == "theses"
    assert ran_on == [threading.get_ident()]
