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
