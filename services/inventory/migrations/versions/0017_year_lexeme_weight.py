"""Items' search vectors weight their year's lexeme A, as item creation now writes them:
words with a year become one query of the GIN index (services/inventory/search.py).
SQLite keeps no vector.

Revision ID: 0017_year_lexeme_weight
Revises: 0016_search_browse_indexes
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_year_lexeme_weight"
down_revision: str | Sequence[str] | None = "0016_search_browse_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE items SET search_vector = setweight(search_vector, 'A', ARRAY[year::text]) "
            "WHERE year IS NOT NULL AND search_vector IS NOT NULL"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE items SET search_vector = setweight(search_vector, 'D') "
            "WHERE search_vector IS NOT NULL"
        )
