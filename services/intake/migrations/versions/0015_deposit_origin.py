"""a deposit a campus system made keeps its request (origin) and the system's account

Revision ID: 0015_deposit_origin
Revises: 0014_item_doi
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_deposit_origin"
down_revision: str | Sequence[str] | None = "0014_item_doi"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deposits") as batch_op:
        batch_op.add_column(sa.Column("origin", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("origin_account_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deposits") as batch_op:
        batch_op.drop_column("origin_account_id")
        batch_op.drop_column("origin")
