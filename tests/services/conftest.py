"""Service tests: real workers (nameko's worker_factory) on a real database, SQLite and PostgreSQL.

PostgreSQL databases are migrated once per session; each test runs inside a transaction
that is rolled back (the warehouse pattern), with the service's commits as savepoints.
Each SQLite test gets a copy of a file migrated once per session.
"""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from kernel.contracts.events import event_schema, new_event
from kernel.platform.db import Database, OutboxMessage
from kernel.platform.storage import LocalStorage
from lodge.migrations import upgrade

_migrated_pg: dict[str, str] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A factory: a migrated SQLite file of one owner, made once a session; tests copy it."""
    made: dict[str, Path] = {}

    def path(owner: str) -> Path:
        if owner not in made:
            made[owner] = tmp_path_factory.mktemp("sqlite") / f"{owner}.db"
            upgrade(owner, f"sqlite:///{made[owner]}")
        return made[owner]

    return path


@pytest.fixture
def database_for(backend, tmp_path, postgres_database, migrated_sqlite):
    """A factory: the migrated database of one owner on this test's backend."""
    opened = []

    def make(owner: str) -> Database:
        if backend == "sqlite":
            path = tmp_path / (owner + ".db")
            shutil.copyfile(migrated_sqlite(owner), path)
            url = f"sqlite:///{path}"
            database = Database(url, owner)
            opened.append((database, None, None))
            return database
        if owner not in _migrated_pg:
            url = postgres_database(owner)
            upgrade(owner, url)
            _migrated_pg[owner] = url
        database = Database(_migrated_pg[owner], owner)
        connection = database.engine.connect()
        transaction = connection.begin()
        database.sessions = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        opened.append((database, connection, transaction))
        return database

    yield make
    for database, connection, transaction in opened:
        if transaction is not None:
            transaction.rollback()
            connection.close()
        database.dispose()


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "storage")


def loaded_event(source: str, event_type: str, **payload) -> dict:
    """An event as a handler receives it: dumped on the wire, loaded through its contract."""
    return event_schema(source, event_type).load(new_event(source, event_type, **payload))


def outbox(database: Database, event_type: str | None = None) -> list[dict]:
    with database.reading() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if event_type:
            query = query.where(OutboxMessage.event_type == event_type)
        return [row.payload for row in session.scalars(query)]


STUDENT = {
    "id": "u-student",
    "username": "student",
    "name": "Sam Student",
    "email": "student@example.edu",
    "groups": ["student"],
    "roles": ["patron"],
    "locale": "en",
}
FACULTY = {
    "id": "u-faculty",
    "username": "faculty",
    "name": "Fran Faculty",
    "email": "faculty@example.edu",
    "groups": ["faculty"],
    "roles": ["patron"],
    "locale": "en",
}
APPROVER = {
    "id": "u-approver",
    "username": "approver",
    "name": "Alex Approver",
    "email": "approver@example.edu",
    "groups": ["approvers"],
    "roles": ["approver"],
    "locale": "en",
}
OTHER_APPROVER = {**APPROVER, "id": "u-approver-2", "name": "Ari Approver"}
STAFF = {
    "id": "u-staff",
    "username": "staff",
    "name": "Robin Staff",
    "email": "staff@example.edu",
    "groups": ["library"],
    "roles": ["staff"],
    "locale": "en",
}
MANAGER = {
    "id": "u-manager",
    "username": "manager",
    "name": "Morgan Manager",
    "email": "manager@example.edu",
    "groups": ["approvers"],
    "roles": ["manager"],
    "locale": "en",
}

THESIS_METADATA = {
    "title": "On Moss",
    "creators": [{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}],
    "abstract": "Mosses of the north.",
    "date": "2026-05-01",
    "degree": "Master",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
