"""clean stored text: deposits' titles and metadata without characters XML cannot carry,
lone surrogates or bidirectional overrides, in NFC

Revision ID: 0006_clean_stored_text
Revises: 0005_deposit_title_trigrams
Create Date: 2026-12-06 03:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.migrations import clean_rows

revision: str = "0006_clean_stored_text"
down_revision: str | Sequence[str] | None = "0005_deposit_title_trigrams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEPOSITS = sa.table(
    "deposits",
    sa.column("id", sa.String),
    sa.column("title", sa.String),
    sa.column("metadata", sa.JSON),
)


def upgrade() -> None:
    clean_rows(op.get_bind(), DEPOSITS, ("title", "metadata"))


def downgrade() -> None:
    pass  # what was removed was never valid text
