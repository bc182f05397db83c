"""profiles name their resource type: existing versions get the type their name suggests

Revision ID: 0009_profile_resource_types
Revises: 0008_draft_expiry_warning
Create Date: 2026-12-06 03:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.contracts.resource_types import suggested

revision: str = "0009_profile_resource_types"
down_revision: str | Sequence[str] | None = "0008_draft_expiry_warning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

versions = sa.table(
    "profile_versions",
    sa.column("profile_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("definition", sa.JSON),
)


def upgrade() -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(versions)).all():
        definition = dict(row.definition)
        if definition.get("resource_type"):
            continue
        definition["resource_type"] = suggested([definition.get("name", "")])
        connection.execute(
            versions.update()
            .where(versions.c.profile_id == row.profile_id, versions.c.version == row.version)
            .values(definition=definition)
        )


def downgrade() -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(versions)).all():
        definition = {k: v for k, v in row.definition.items() if k != "resource_type"}
        connection.execute(
            versions.update()
            .where(versions.c.profile_id == row.profile_id, versions.c.version == row.version)
            .values(definition=definition)
        )
