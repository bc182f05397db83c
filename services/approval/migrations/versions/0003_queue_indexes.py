"""queue indexes: a narrow one for the tab counts, trigrams for the depositor filter

Revision ID: 0003_queue_indexes
Revises: 0002_queue_columns_groups_notes
Create Date: 2026-12-01 16:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_queue_indexes"
down_revision: str | Sequence[str] | None = "0002_queue_columns_groups_notes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING_SQL = "state IN ('open', 'claimed')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension: the database's owner may create it
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_review_tasks_pending_counts",
        "review_tasks",
        ["groups_key", "state", "assignee_id", "due_at"],
        unique=False,
        postgresql_where=sa.text(PENDING_SQL),
        sqlite_where=sa.text(PENDING_SQL),
    )
    op.create_index(
        "ix_review_tasks_pending_depositor_name",
        "review_tasks",
        ["depositor_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"depositor_name": "gin_trgm_ops"},
        postgresql_where=sa.text(PENDING_SQL),
        sqlite_where=sa.text(PENDING_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_review_tasks_pending_depositor_name", table_name="review_tasks")
    op.drop_index("ix_review_tasks_pending_counts", table_name="review_tasks")
