"""`insert_new`, on which every idempotent handler and applied-once call rests: a row is
inserted once whatever comes twice, the columns' defaults are filled in, and its
statement is compiled once, not at every event (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from kernel.platform.db import ProcessedEvent, insert_new
from services.intake.models import Profile, ProfileVersion
from services.inventory.models import RunningJob


def test_a_row_is_inserted_once_and_a_repeat_is_told_apart(database_for):
    database = database_for("intake")
    with database.unit_of_work() as uow:
        assert insert_new(uow.session, ProcessedEvent, key="evt 1", reply='{"ok": true}')
        assert not insert_new(uow.session, ProcessedEvent, key="evt 1", reply="other")
    with database.reading() as session:
        row = session.get(ProcessedEvent, "evt 1")
        assert row.reply == '{"ok": true}'  # the repeat changed nothing
        # the column's Python default, as an ORM insert would have filled it in
        assert abs((row.processed_at - datetime.now(UTC)).total_seconds()) < 60
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1


def test_a_given_value_is_kept_and_other_tables_work_alike(database_for):
    database = database_for("inventory")
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with database.unit_of_work() as uow:
        assert insert_new(uow.session, RunningJob, name="bag export", started_at=started)
        assert not insert_new(uow.session, RunningJob, name="bag export")
    with database.reading() as session:
        assert session.get(RunningJob, "bag export").started_at == started


def test_what_the_session_holds_is_written_first(database_for):
    """As an ORM insert would: a row that refers to one added just before finds it."""
    database = database_for("intake")
    with database.unit_of_work() as uow:
        uow.session.add(Profile(id="zines", name="Zines"))
        assert insert_new(
            uow.session,
            ProfileVersion,
            profile_id="zines",
            version=1,
            definition={"name": "Zines"},
            created_by="u-manager",
        )
    with database.reading() as session:
        assert session.get(ProfileVersion, ("zines", 1)).definition == {"name": "Zines"}


def test_a_column_the_table_lacks_is_refused(database_for):
    database = database_for("intake")
    with pytest.raises(KeyError), database.unit_of_work() as uow:
        insert_new(uow.session, ProcessedEvent, key="evt", colour="red")


def test_its_statement_is_compiled_once_for_every_event(database_for):
    database = database_for("intake")
    compiled = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def seen(connection, cursor, statement, parameters, context, executemany):
        if statement.startswith('INSERT INTO "processed_events"'):
            compiled.append(context.compiled)

    for number in range(3):
        with database.unit_of_work() as uow:
            assert uow.first_time(f"evt {number}")
    assert len(compiled) == 3
    assert compiled[0] is compiled[1] is compiled[2]  # taken from the statement cache
