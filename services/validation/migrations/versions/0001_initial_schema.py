"""initial schema

Revision ID: 0001_initial_schema
Revises:
Create Date: 2026-11-29 13:53:06.002411

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.migrations import create_messaging_tables, drop_messaging_tables

# revision identifiers, used by Alembic.
revision: str = "0001_initial_schema"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "validation_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deposit_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deposit_id", "revision"),
    )
    create_messaging_tables()


def downgrade() -> None:
    """Downgrade schema."""
    drop_messaging_tables()
    op.drop_table("validation_reports")
