"""when the depositor was warned that an untouched draft will be removed

Revision ID: 0008_draft_expiry_warning
Revises: 0007_mediated_deposits_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_draft_expiry_warning"
down_revision: str | Sequence[str] | None = "0007_mediated_deposits_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.add_column(sa.Column("expiry_warned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.drop_column("expiry_warned_at")
