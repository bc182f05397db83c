"""usage statistics: monthly COUNTER figures per item, and the state the rules look back at

Revision ID: 0013_usage_statistics
Revises: 0012_versions_and_corrections
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_usage_statistics"
down_revision: str | Sequence[str] | None = "0012_versions_and_corrections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_months",
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("total_investigations", sa.Integer(), nullable=False),
        sa.Column("unique_investigations", sa.Integer(), nullable=False),
        sa.Column("total_requests", sa.Integer(), nullable=False),
        sa.Column("unique_requests", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("item_id", "month"),
    )
    op.create_index("ix_usage_months_month", "usage_months", ["month"])
    op.create_table(
        "usage_clicks",
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_key", "target"),
    )
    op.create_index("ix_usage_clicks_at", "usage_clicks", ["at"])
    op.create_table(
        "usage_session_items",
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_key", "hour", "item_id", "metric"),
    )
    op.create_index("ix_usage_session_items_hour", "usage_session_items", ["hour"])


def downgrade() -> None:
    op.drop_table("usage_session_items")
    op.drop_table("usage_clicks")
    op.drop_table("usage_months")
