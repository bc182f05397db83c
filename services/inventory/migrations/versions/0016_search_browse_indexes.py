"""Items not withdrawn, newest first, in the repository and in each collection: the
search and browse pages read a page in index order instead of sorting every match

Revision ID: 0016_search_browse_indexes
Revises: 0015_doi_registrations
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_search_browse_indexes"
down_revision: str | Sequence[str] | None = "0015_doi_registrations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC = "withdrawn_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_items_public_created_id",
        "items",
        ["created_at", "id"],
        postgresql_where=sa.text(PUBLIC),
        sqlite_where=sa.text(PUBLIC),
    )
    op.create_index(
        "ix_items_public_collection_created_id",
        "items",
        ["collection_id", "created_at", "id"],
        postgresql_where=sa.text(PUBLIC),
        sqlite_where=sa.text(PUBLIC),
    )
    op.drop_index("ix_items_created_at", table_name="items")


def downgrade() -> None:
    op.create_index("ix_items_created_at", "items", ["created_at"])
    op.drop_index("ix_items_public_collection_created_id", table_name="items")
    op.drop_index("ix_items_public_created_id", table_name="items")
