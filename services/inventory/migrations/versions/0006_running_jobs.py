"""Jobs that run once at a time across inventory processes (the fixity audit)

Revision ID: 0006_running_jobs
Revises: 0005_clean_stored_text
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_running_jobs"
down_revision: str | Sequence[str] | None = "0005_clean_stored_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "running_jobs",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("running_jobs")
