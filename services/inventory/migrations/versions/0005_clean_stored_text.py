"""clean stored text: items' records, creators, search text and withdrawal reasons without
characters XML cannot carry, lone surrogates or bidirectional overrides, in NFC

Revision ID: 0005_clean_stored_text
Revises: 0004_collections_search_fixity
Create Date: 2026-12-06 03:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.migrations import clean_rows

revision: str = "0005_clean_stored_text"
down_revision: str | Sequence[str] | None = "0004_collections_search_fixity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ITEMS = sa.table(
    "items",
    sa.column("id", sa.String),
    sa.column("record", sa.JSON),
    sa.column("creators", sa.JSON),
    sa.column("search_text", sa.Text),
    sa.column("withdrawal_reason", sa.Text),
)


def upgrade() -> None:
    clean_rows(op.get_bind(), ITEMS, ("record", "creators", "search_text", "withdrawal_reason"))


def downgrade() -> None:
    pass  # what was removed was never valid text
