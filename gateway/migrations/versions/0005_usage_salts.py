"""the usage statistics' daily salt, shared by every gateway instance

Revision ID: 0005_usage_salts
Revises: 0004_token_expiry_deactivation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_usage_salts"
down_revision: str | Sequence[str] | None = "0004_token_expiry_deactivation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_salts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("usage_salts")
