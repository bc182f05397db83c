"""The public items in (datestamp, id) order, for the sitemaps' keyset parts

Revision ID: 0014_sitemap_index
Revises: 0013_usage_statistics
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_sitemap_index"
down_revision: str | Sequence[str] | None = "0013_usage_statistics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC = "withdrawn_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_items_public_datestamp_id",
        "items",
        ["datestamp", "id"],
        postgresql_where=sa.text(PUBLIC),
        sqlite_where=sa.text(PUBLIC),
    )


def downgrade() -> None:
    op.drop_index("ix_items_public_datestamp_id", table_name="items")
