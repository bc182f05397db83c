"""The outbox relay is woken by commits that queued events, and only by those: a read, a
write that emitted nothing, or a call that failed costs it no round; and a busy relay
measures the outbox at most every `measure_interval`."""

from types import SimpleNamespace

import pytest

from kernel.platform.db import Database, MessagingBase, OutboxMessage
from kernel.platform.dependencies import Store

EVENT = {"deposit_id": "d1"}


@pytest.fixture
def database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'service.db'}", "intake")
    MessagingBase.metadata.create_all(database.engine)
    wakes = []
    database.on_events = lambda: wakes.append(database.outbox_backlog()[0])
    database.wakes = wakes  # type: ignore[attr-defined]
    yield database
    database.dispose()


def test_a_unit_of_work_that_emitted_wakes_the_relay_after_its_commit(database):
    with database.unit_of_work() as uow:
        uow.emit("deposit_submitted", EVENT)
        assert database.wakes == []  # not before the commit
    assert database.wakes == [1]  # the row was there to relay when it woke


def test_reads_and_writes_without_events_wake_nothing(database):
    with database.reading() as session:
        session.query(OutboxMessage).count()
    with database.unit_of_work() as uow:
        uow.first_time("validation:deposit_validated:d1:1")
    assert database.wakes == []


def test_a_call_wakes_the_relay_once_it_committed_its_reply(database):
    database.serving_call("call-1")
    with database.tracking_writes() as tracker:
        for _ in range(2):
            with database.unit_of_work() as uow:
                uow.emit("deposit_status_changed", EVENT)
        assert database.wakes == []
        database.finish_call(tracker, "{}")
    assert database.wakes == [2]


def test_a_call_that_failed_wakes_nothing(database):
    database.serving_call("call-2")
    with pytest.raises(RuntimeError), database.tracking_writes():
        with database.unit_of_work() as uow:
            uow.emit("deposit_status_changed", EVENT)
        raise RuntimeError("the method failed after its write")
    assert database.wakes == []
    assert database.outbox_backlog()[0] == 0


def test_rounds_in_quick_succession_measure_the_outbox_once(database):
    """A busy relay runs a round per commit; the backlog query runs at most every
    `measure_interval`, and again once that has passed."""
    store = Store()
    store.container = SimpleNamespace(service_name="intake")
    store.database = database
    store._oldest_waiting = None
    store._measured_at = -Store.measure_interval
    queries = []
    measure = database.outbox_backlog
    database.outbox_backlog = lambda: queries.append(1) or measure()
    for _ in range(5):
        store._measure_outbox(due_only=True)
    assert len(queries) == 1
    store._measure_outbox()  # the last round before a stop always measures
    assert len(queries) == 2
    store._measured_at -= Store.measure_interval
    store._measure_outbox(due_only=True)
    assert len(queries) == 3
