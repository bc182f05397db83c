"""campus systems' requests and their replies, so a request sent again is answered once

Revision ID: 0007_campus_requests
Revises: 0006_campus_systems
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.db import UTCDateTime

revision: str = "0007_campus_requests"
down_revision: str | Sequence[str] | None = "0006_campus_systems"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campus_requests",
        sa.Column(
            "system_id",
            sa.String(32),
            sa.ForeignKey("campus_systems.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("system_id", "source", "event_id"),
    )
    op.create_index("ix_campus_requests_created_at", "campus_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_campus_requests_created_at", table_name="campus_requests")
    op.drop_table("campus_requests")
