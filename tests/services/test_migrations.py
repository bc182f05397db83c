"""Each owner's migrations build exactly the schema its models describe, on both databases."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from gateway.models import Base as GatewayBase
from lodge.cli import main
from services.common.config import get_settings
from services.common.migrations import is_current, upgrade
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_deposits_made_for_patrons_before_the_mediator_column_keep_their_mediator(
        backend, tmp_path, postgres_database):
    """The dashboard finds mediated deposits by an indexed mediator id; the migration that
    adds it fills it in from each deposit's `mediated_by`, and leaves the others empty."""
    from alembic import command
    from sqlalchemy import create_engine, text
    from services.common.migrations import alembic_config
    url = (f"sqlite:///{tmp_path / 'intake.db'}" if backend == "sqlite"
           else postgres_database("mediator"))
    command.upgrade(alembic_config("intake", url), "0005")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for deposit_id, mediated_by in (("made-for", '{"id": "u-staff", "name": "Robin"}'),
                                            ("own", "null"), ("older", None)):
                connection.execute(text(
                    "INSERT INTO deposits (id, profile_id, profile_version, status, revision, "
                    "title, metadata, depositor_id, depositor, mediated_by, access_policy, "
                    "created_at, updated_at) VALUES (:id, 'thesis', 1, 'draft', 1, 't', '{}', "
                    "'u-student', '{}', :mediated_by, 'open', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"), {"id": deposit_id, "mediated_by": mediated_by})
        upgrade("intake", url)
        with engine.connect() as connection:
            rows = dict(connection.execute(text("SELECT id, mediator_id FROM deposits")).all())
    finally:
        engine.dispose()
    assert rows == {"made-for": "u-staff", "own": None, "older": None}
