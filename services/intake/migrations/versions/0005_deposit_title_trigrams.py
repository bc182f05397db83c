"""words in titles on the staff list of every deposit: a trigram index on title

Revision ID: 0005_deposit_title_trigrams
Revises: 0004_history_reason_labels
Create Date: 2026-12-01 16:05:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_deposit_title_trigrams"
down_revision: str | Sequence[str] | None = "0004_history_reason_labels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # trusted: the owner may
    op.create_index(
        "ix_deposits_title_trigrams",
        "deposits",
        ["title"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_deposits_title_trigrams", table_name="deposits")
