"""items keep their profile's resource type; existing items get the type their dc:type suggests

Revision ID: 0007_item_resource_types
Revises: 0006_running_jobs
Create Date: 2026-12-06 03:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.contracts.resource_types import suggested

revision: str = "0007_item_resource_types"
down_revision: str | Sequence[str] | None = "0006_running_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

items = sa.table(
    "items",
    sa.column("id", sa.String),
    sa.column("record", sa.JSON),
    sa.column("resource_type", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resource_type", sa.String(length=40), nullable=False, server_default="text")
        )
    connection = op.get_bind()
    # dc:type held a field's value (a degree) or, where none, the profile's name
    for row in connection.execute(sa.select(items.c.id, items.c.record)).all():
        kind = suggested(list((row.record or {}).get("type") or []))
        if kind != "text":
            connection.execute(
                items.update().where(items.c.id == row.id).values(resource_type=kind)
            )


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("resource_type")
