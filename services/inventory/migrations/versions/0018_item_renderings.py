"""Items' OAI-PMH records kept as rendered, and the serial of each item's changes that says
whether a kept one is still right (services/inventory/renderings.py). Nothing is kept
yet: harvests fill the table as they go.

Revision ID: 0018_item_renderings
Revises: 0017_year_lexeme_weight
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_item_renderings"
down_revision: str | Sequence[str] | None = "0017_year_lexeme_weight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("serial", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "item_renderings",
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("metadata_prefix", sa.String(length=40), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "metadata_prefix"),
    )


def downgrade() -> None:
    op.drop_table("item_renderings")
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("serial")
