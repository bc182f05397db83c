"""a patron's unfinished deposits (drafts and returned ones) by an index of their own: the
quota counts them at each new draft, and read every deposit the patron ever made without it

Revision ID: 0016_unfinished_deposits_index
Revises: 0015_deposit_origin
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_unfinished_deposits_index"
down_revision: str | Sequence[str] | None = "0015_deposit_origin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "status IN ('draft', 'returned')"


def upgrade() -> None:
    op.create_index(
        "ix_deposits_unfinished_depositor",
        "deposits",
        ["depositor_id"],
        postgresql_where=sa.text(UNFINISHED),
        sqlite_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_deposits_unfinished_depositor", table_name="deposits")
