"""Each owner's migrations build exactly the schema its models describe, on both databases;
they are named in sequence, and a database at a revision's former id upgrades."""

import json
import re
from datetime import UTC
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from gateway.models import Base as GatewayBase
from kernel.platform.config import get_settings
from kernel.platform.db import MessagingBase
from lodge.cli import main
from lodge.migrations import RENAMED_REVISIONS, alembic_config, is_current, upgrade
from services.approval.models import Base as ApprovalBase
from services.intake.models import Base as IntakeBase
from services.inventory import search
from services.inventory.models import Base as InventoryBase
from services.letters.models import Base as LettersBase
from services.validation.models import Base as ValidationBase

OWNERS = {
    "intake": [IntakeBase.metadata, MessagingBase.metadata],
    "validation": [ValidationBase.metadata, MessagingBase.metadata],
    "approval": [ApprovalBase.metadata, MessagingBase.metadata],
    "letters": [LettersBase.metadata, MessagingBase.metadata],
    "inventory": [InventoryBase.metadata, MessagingBase.metadata],
    "gateway": [GatewayBase.metadata],
}


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_migrations_match_the_models(owner, database_for):
    database = database_for(owner)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, OWNERS[owner])
    assert differences == []


def revisions_of(owner: str) -> list:
    """The owner's migrations, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config(owner, "sqlite://"))
    return list(reversed(list(scripts.walk_revisions())))


def versions_in(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def stamp_renamed(url: str, old: str) -> None:
    """What a database migrated before the renaming holds: the old id of where it stopped."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :old"), {"old": old})
    finally:
        engine.dispose()


def schema_of(url: str) -> dict:
    """Every table's columns, indexes, unique constraints and foreign keys."""
    engine = create_engine(url)
    try:
        schema = inspect(engine)
        return {
            table: (
                [
                    (column["name"], str(column["type"]), column["nullable"])
                    for column in schema.get_columns(table)
                ],
                sorted(
                    (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                    for index in schema.get_indexes(table)
                ),
                sorted(
                    tuple(unique["column_names"]) for unique in schema.get_unique_constraints(table)
                ),
                sorted(
                    (tuple(key["constrained_columns"]), key["referred_table"])
                    for key in schema.get_foreign_keys(table)
                ),
            )
            for table in schema.get_table_names()
        }
    finally:
        engine.dispose()


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_migrations_are_named_by_what_they_change_in_strict_sequence(owner):
    """Each file is NNNN_what_it_changes.py, 0001, 0002, ... and its revision id is its name."""
    revisions = revisions_of(owner)
    for number, revision in enumerate(revisions, start=1):
        assert re.fullmatch(rf"{number:04d}_[a-z][a-z_]*", revision.revision), revision.revision
        assert Path(revision.path).stem == revision.revision
        assert len(revision.revision) <= 32  # alembic_version.version_num is VARCHAR(32)
    # every old id is renamed to a revision that exists (ones added since never had another)
    assert set(RENAMED_REVISIONS[owner].values()) <= {r.revision for r in revisions}


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_a_fresh_database_gets_the_current_revision_ids(owner, tmp_path):
    url = f"sqlite:///{tmp_path / owner}.db"
    upgrade(owner, url)
    assert versions_in(url) == {revisions_of(owner)[-1].revision}
    assert is_current(owner, url)


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_a_database_at_a_renamed_revision_upgrades_to_the_schema_of_a_fresh_one(owner, tmp_path):
    """A database migrated before the revisions were renamed holds the old id of where it
    stopped: `upgrade` renames it and carries on from there, to the same schema as a fresh
    database's, at the newest revision."""
    fresh = f"sqlite:///{tmp_path / 'fresh'}.db"
    upgrade(owner, fresh)
    for old, new in RENAMED_REVISIONS[owner].items():
        url = f"sqlite:///{tmp_path / old}.db"
        command.upgrade(alembic_config(owner, url), new)
        stamp_renamed(url, old)
        assert versions_in(url) == {old} and not is_current(owner, url)
        upgrade(owner, url)
        assert versions_in(url) == versions_in(fresh), old
        assert schema_of(url) == schema_of(fresh), old


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_a_postgresql_database_at_a_renamed_head_upgrades(owner, postgres_database):
    """The same on PostgreSQL, from the newest old id (what deployed databases hold)."""
    url = postgres_database(f"renamed_{owner}")
    old, new = list(RENAMED_REVISIONS[owner].items())[-1]
    command.upgrade(alembic_config(owner, url), new)
    stamp_renamed(url, old)
    upgrade(owner, url)
    assert versions_in(url) == {revisions_of(owner)[-1].revision}  # renamed, then upgraded
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, OWNERS[owner]) == []
    finally:
        engine.dispose()


def test_await_migrations_waits_for_every_named_database(tmp_path, monkeypatch):
    """The init containers in deploy/k8s run it: it fails until `lodge migrate` has run."""
    monkeypatch.setenv("LODGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LODGE_INTAKE_DATABASE_URL", f"sqlite:///{tmp_path / 'intake.db'}")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        waited = runner.invoke(main, ["await-migrations", "intake", "--timeout", "0"])
        assert waited.exit_code == 1 and "not migrated yet: intake" in waited.output
        assert not is_current("intake", get_settings().database_url("intake"))
        upgrade("intake", get_settings().database_url("intake"))
        waited = runner.invoke(main, ["await-migrations", "intake", "--timeout", "0"])
        assert waited.exit_code == 0, waited.output
    finally:
        get_settings.cache_clear()


def test_profiles_and_items_from_before_get_the_resource_type_their_words_suggest(tmp_path):
    """The thesis profile becomes a thesis and the mixed one an article, as do their items,
    whose dc:type held a degree or the profile's name."""
    intake = f"sqlite:///{tmp_path / 'intake.db'}"
    command.upgrade(alembic_config("intake", intake), "0005_deposit_title_trigrams")
    engine = create_engine(intake)
    with engine.begin() as connection:
        for profile_id, name in (
            ("thesis", "Thesis"),
            ("open-works", "Articles, datasets and other works"),
        ):
            connection.execute(
                text(
                    "INSERT INTO profile_versions (profile_id, version, definition, created_by, "
                    "created_at) VALUES (:id, 1, :definition, 'system', '2026-01-01')"
                ),
                {"id": profile_id, "definition": f'{{"name": "{name}"}}'},
            )
    upgrade("intake", intake)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT profile_id, definition FROM profile_versions"))
        assert {row[0]: json.loads(row[1])["resource_type"] for row in rows} == {
            "thesis": "thesis",
            "open-works": "journal-article",
        }

    inventory = f"sqlite:///{tmp_path / 'inventory.db'}"
    command.upgrade(alembic_config("inventory", inventory), "0004_collections_search_fixity")
    engine = create_engine(inventory)
    with engine.begin() as connection:
        for item_id, types in (
            ("a", ["Master"]),
            ("b", ["Articles, datasets and other works"]),
            ("c", []),
        ):
            connection.execute(
                text(
                    "INSERT INTO items (id, identifier, deposit_id, revision, collection_id, "
                    "access, record, created_at, datestamp) VALUES (:id, :id, :id, 1, 'theses', "
                    "'open', :record, '2026-01-01', '2026-01-01')"
                ),
                {"id": item_id, "record": json.dumps({"type": types})},
            )
    upgrade("inventory", inventory)
    with engine.connect() as connection:
        assert dict(connection.execute(text("SELECT id, resource_type FROM items")).all()) == {
            "a": "master-thesis",
            "b": "journal-article",
            "c": "text",
        }


def test_migrations_clean_text_stored_before_the_text_rule(tmp_path):
    """Deposits and items stored with characters XML cannot carry (a harvest would fail on
    them) come out of the migration clean, in NFC; clean rows are left as they were."""
    from datetime import datetime

    from sqlalchemy import insert

    from kernel.platform.db import Database
    from services.intake.models import Deposit
    from services.inventory.models import Collection, Item

    now = datetime.now(UTC)
    intake_url, inventory_url = (f"sqlite:///{tmp_path / name}.db" for name in ("intake", "inv"))
    command.upgrade(alembic_config("intake", intake_url), "0005_deposit_title_trigrams")
    command.upgrade(alembic_config("inventory", inventory_url), "0004_collections_search_fixity")
    intake, inventory = Database(intake_url, "intake"), Database(inventory_url, "inventory")
    with intake.unit_of_work() as uow:
        for id_, title in (("bad", "Tides\x0b of the\u202e sea"), ("good", "Calm")):
            # core inserts name only the columns of that older schema
            uow.session.execute(
                insert(Deposit).values(
                    id=id_,
                    profile_id="p",
                    profile_version=1,
                    status="draft",
                    title=title,
                    meta={"title": title, "creators": [{"name": "Jose\u0301\x01"}]},
                    depositor_id="u",
                    depositor={"id": "u"},
                    created_at=now,
                    updated_at=now,
                )
            )
    with inventory.unit_of_work() as uow:
        uow.session.add(Collection(id="c", name="C"))
        uow.session.flush()
        # the columns of that older schema only (later ones have Python-side defaults)
        uow.session.execute(
            text(
                "INSERT INTO items (id, identifier, deposit_id, revision, collection_id, access, "
                "record, creators, created_at, datestamp, search_text) VALUES ('bad', "
                "'ark:/1/bad', 'd', 1, 'c', 'open', :record, :creators, :now, :now, '')"
            ),
            {
                "record": json.dumps({"title": ["Tides\x0b of the sea"]}),
                "creators": json.dumps([{"name": "A.\x1b Author", "orcid": None}]),
                "now": now,
            },
        )
    upgrade("intake", intake_url)
    upgrade("inventory", inventory_url)
    with intake.reading() as session:
        bad, good = session.get(Deposit, "bad"), session.get(Deposit, "good")
        assert bad.title == "Tides of the sea"
        assert bad.meta == {"title": "Tides of the sea", "creators": [{"name": "José"}]}
        assert good.title == "Calm"
    with inventory.reading() as session:
        item = session.get(Item, "bad")
        assert item.record == {"title": ["Tides of the sea"]}
        assert item.creators == [{"name": "A. Author", "orcid": None}]
    intake.dispose()
    inventory.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_deposits_made_for_patrons_before_the_mediator_column_keep_their_mediator(
    backend, tmp_path, postgres_database
):
    """The dashboard finds mediated deposits by an indexed mediator id; the migration that
    adds it fills it in from each deposit's `mediated_by`, and leaves the others empty."""
    url = (
        f"sqlite:///{tmp_path / 'intake.db'}"
        if backend == "sqlite"
        else postgres_database("mediator")
    )
    command.upgrade(alembic_config("intake", url), "0005_deposit_title_trigrams")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for deposit_id, mediated_by in (
                ("made-for", '{"id": "u-staff", "name": "Robin"}'),
                ("own", "null"),
                ("older", None),
            ):
                connection.execute(
                    text(
                        "INSERT INTO deposits (id, profile_id, profile_version, status, revision, "
                        "title, metadata, depositor_id, depositor, mediated_by, access_policy, "
                        "created_at, updated_at) VALUES (:id, 'thesis', 1, 'draft', 1, 't', '{}', "
                        "'u-student', '{}', :mediated_by, 'open', CURRENT_TIMESTAMP, "
                        "CURRENT_TIMESTAMP)"
                    ),
                    {"id": deposit_id, "mediated_by": mediated_by},
                )
        upgrade("intake", url)
        with engine.connect() as connection:
            rows = dict(connection.execute(text("SELECT id, mediator_id FROM deposits")).all())
    finally:
        engine.dispose()
    assert rows == {"made-for": "u-staff", "own": None, "older": None}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_items_from_before_become_version_1_of_works_of_their_own(
    backend, tmp_path, postgres_database
):
    """Each existing item (with its files, whose foreign keys a rebuilt table would trip
    over) gets a work of its own, whose identifier is minted from the item's prefix."""
    url = (
        f"sqlite:///{tmp_path / 'inventory.db'}"
        if backend == "sqlite"
        else postgres_database("inventory-versions")
    )
    command.upgrade(alembic_config("inventory", url), "0010_call_replies")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO collections (id, name, created_at) VALUES ('c', 'C', '2026-01-01')")
        )
        for item_id in ("a", "b"):
            connection.execute(
                text(
                    "INSERT INTO items (id, identifier, deposit_id, revision, collection_id, "
                    "access, record, created_at, datestamp, search_text, resource_type) "
                    "VALUES (:id, :identifier, :id, 1, 'c', 'open', '{}', '2026-01-01', "
                    "'2026-01-01', '', 'text')"
                ),
                {"id": item_id, "identifier": f"ark:/99999/lodge-{item_id * 16}"},
            )
            connection.execute(
                text(
                    "INSERT INTO representations (id, item_id, usage, label) "
                    "VALUES (:id, :id, 'master', 'Files')"
                ),
                {"id": item_id},
            )
    upgrade("inventory", url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, concept_id, concept_identifier, version FROM items ORDER BY id")
        ).all()
    engine.dispose()
    assert [row.version for row in rows] == [1, 1]
    assert len({row.concept_id for row in rows}) == 2
    for row in rows:
        assert row.concept_identifier == f"ark:/99999/lodge-{row.concept_id[:16]}"


def test_items_indexed_before_the_year_weight_are_found_by_their_words_and_year(
    postgres_database,
):
    url = postgres_database("inventory-year-weight")
    command.upgrade(alembic_config("inventory", url), "0016_search_browse_indexes")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO collections (id, name, created_at) VALUES ('c', 'C', '2026-01-01')")
        )
        for item_id, year, words in (("a", 2020, "moss 2020"), ("b", 2019, "moss of 2020 2019")):
            connection.execute(
                text(
                    "INSERT INTO items (id, identifier, deposit_id, revision, collection_id, "
                    "access, record, created_at, datestamp, year, search_text, search_vector, "
                    "resource_type, concept_id, concept_identifier) "
                    "VALUES (:id, :id, :id, 1, 'c', 'open', '{}', '2026-01-01', '2026-01-01', "
                    ":year, :words, to_tsvector('simple', :words), 'text', :id, :id)"
                ),
                {"id": item_id, "year": year, "words": words},
            )
    upgrade("inventory", url)
    with Session(engine) as session:
        found = search.results(session, "moss", 2020, None, 1, 20)
        assert [item.id for item in found["items"]] == ["a"]
        assert search.results(session, "moss 2020", None, None, 1, 20)["total"] == 2
    engine.dispose()
