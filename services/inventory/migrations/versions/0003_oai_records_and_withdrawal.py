"""OAI-PMH datestamps with keyset indexes, withdrawal, creators, technical metadata

Revision ID: 0003_oai_records_and_withdrawal
Revises: 0002_embargo_date_on_items
Create Date: 2026-11-29 21:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003_oai_records_and_withdrawal"
down_revision: str | Sequence[str] | None = "0002_embargo_date_on_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creators", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("datestamp", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
    op.execute("UPDATE items SET datestamp = created_at")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.alter_column("datestamp", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index("ix_items_datestamp_id", ["datestamp", "id"], unique=False)
        batch_op.create_index(
            "ix_items_collection_datestamp_id", ["collection_id", "datestamp", "id"], unique=False
        )
    with op.batch_alter_table("item_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("technical", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("item_files", schema=None) as batch_op:
        batch_op.drop_column("technical")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_collection_datestamp_id")
        batch_op.drop_index("ix_items_datestamp_id")
        batch_op.drop_column("withdrawal_reason")
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("datestamp")
        batch_op.drop_column("creators")
