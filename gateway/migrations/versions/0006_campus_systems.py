"""campus systems that deposit through Lodge, and the profiles each may use

Revision ID: 0006_campus_systems
Revises: 0005_usage_salts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.db import UTCDateTime

revision: str = "0006_campus_systems"
down_revision: str | Sequence[str] | None = "0005_usage_salts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campus_systems",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("broker_user", sa.String(150), nullable=False),
        sa.Column("allowed_hosts", sa.JSON(), nullable=False),
        sa.Column("sends_people", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.Column("deactivated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("user_id"),
        sa.UniqueConstraint("broker_user"),
    )
    op.create_table(
        "campus_system_profiles",
        sa.Column(
            "system_id",
            sa.String(32),
            sa.ForeignKey("campus_systems.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("system_id", "profile_id"),
    )


def downgrade() -> None:
    op.drop_table("campus_system_profiles")
    op.drop_table("campus_systems")
