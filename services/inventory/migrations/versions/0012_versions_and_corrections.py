"""items are versions of works (concept id and identifier, version number); corrections

Revision ID: 0012_versions_and_corrections
Revises: 0011_bag_exports
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_versions_and_corrections"
down_revision: str | Sequence[str] | None = "0011_bag_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

items = sa.table(
    "items",
    sa.column("id", sa.String),
    sa.column("identifier", sa.String),
    sa.column("concept_id", sa.String),
    sa.column("concept_identifier", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("concept_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("concept_identifier", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    connection = op.get_bind()
    # each item becomes version 1 of a work of its own; the work's identifier is minted as
    # the item's was (the prefix, then 16 hex characters), from a new random id, so it
    # never equals the item's own
    for row in connection.execute(sa.select(items.c.id, items.c.identifier)).all():
        concept_id = uuid.uuid4().hex
        connection.execute(
            items.update()
            .where(items.c.id == row.id)
            .values(
                concept_id=concept_id,
                concept_identifier=row.identifier[:-16] + concept_id[:16],
            )
        )
    # indexes only: a constraint or NOT NULL would rebuild the table on SQLite, which the
    # foreign keys of the items' representations refuse
    op.create_index("uq_items_concept_version", "items", ["concept_id", "version"], unique=True)
    op.create_index("ix_items_concept_identifier", "items", ["concept_identifier"])
    op.create_table(
        "item_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_item_corrections_item_id", "item_corrections", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_item_corrections_item_id", table_name="item_corrections")
    op.drop_table("item_corrections")
    op.drop_index("ix_items_concept_identifier", table_name="items")
    op.drop_index("uq_items_concept_version", table_name="items")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("concept_identifier")
        batch_op.drop_column("concept_id")
