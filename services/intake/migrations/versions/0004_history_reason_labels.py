"""history keeps the label of the approver's reason as the depositor was told it

Revision ID: 0004_history_reason_labels
Revises: 0003_dashboard_indexes
Create Date: 2026-12-01 16:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_history_reason_labels"
down_revision: str | Sequence[str] | None = "0003_dashboard_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deposit_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_label", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deposit_history", schema=None) as batch_op:
        batch_op.drop_column("reason_label")
