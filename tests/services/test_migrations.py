"""Each owner's migrations build exactly the schema its models describe, on both databases."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.models import Base as GatewayBase
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
