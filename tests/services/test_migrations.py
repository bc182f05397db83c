"""Each owner's migrations build exactly the schema its models describe, on both databases."""
import json

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from gateway.models import Base as GatewayBase
from lodge.cli import main
from services.common.config import get_settings
from services.common.migrations import alembic_config, is_current, upgrade
from services.approval.models import Base as ApprovalBase
from services.common.db import MessagingBase
from services.intake.models import Base as IntakeBase
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
    command.upgrade(alembic_config("intake", intake), "0005")
    engine = create_engine(intake)
    with engine.begin() as connection:
        for profile_id, name in (("thesis", "Thesis"),
                                 ("open-works", "Articles, datasets and other works")):
            connection.execute(text(
                "INSERT INTO profile_versions (profile_id, version, definition, created_by, "
                "created_at) VALUES (:id, 1, :definition, 'system', '2026-01-01')"),
                {"id": profile_id, "definition": f'{{"name": "{name}"}}'})
    upgrade("intake", intake)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT profile_id, definition FROM profile_versions"))
        assert {row[0]: json.loads(row[1])["resource_type"] for row in rows} == {
            "thesis": "thesis", "open-works": "journal-article"}

    inventory = f"sqlite:///{tmp_path / 'inventory.db'}"
    command.upgrade(alembic_config("inventory", inventory), "0003_i7b")
    engine = create_engine(inventory)
    with engine.begin() as connection:
        for item_id, types in (("a", ["Master"]), ("b", ["Articles, datasets and other works"]),
                               ("c", [])):
            connection.execute(text(
                "INSERT INTO items (id, identifier, deposit_id, revision, collection_id, access, "
                "record, created_at, datestamp) VALUES (:id, :id, :id, 1, 'theses', 'open', "
                ":record, '2026-01-01', '2026-01-01')"),
                {"id": item_id, "record": json.dumps({"type": types})})
    upgrade("inventory", inventory)
    with engine.connect() as connection:
        assert dict(connection.execute(text("SELECT id, resource_type FROM items")).all()) == {
            "a": "master-thesis", "b": "journal-article", "c": "text"}
