"""a deposit that left review keeps a marker of the revision that left, so a late event of
its entering review asks nobody; reminders read only the deposits still waiting

Revision ID: 0006_review_left_markers
Revises: 0005_call_replies
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_review_left_markers"
down_revision: str | Sequence[str] | None = "0005_call_replies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "left_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("pending_reviews") as batch:
        batch.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_index("ix_pending_reviews_due_at")
        batch.create_index("ix_pending_reviews_left_at", ["left_at"])
    op.create_index(
        "ix_pending_reviews_waiting",
        "pending_reviews",
        ["due_at"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_pending_reviews_waiting", "pending_reviews")
    op.execute("DELETE FROM pending_reviews WHERE left_at IS NOT NULL")
    with op.batch_alter_table("pending_reviews") as batch:
        batch.drop_index("ix_pending_reviews_left_at")
        batch.drop_column("left_at")
        batch.create_index("ix_pending_reviews_due_at", ["due_at"])
