"""the RPC calls that wrote, with their replies, so a redelivered call is applied once

Revision ID: 0010_processed_calls
Revises: 0009_dead_letters
"""

from collections.abc import Sequence

from kernel.platform.migrations import create_processed_calls_table, drop_processed_calls_table

revision: str = "0010_processed_calls"
down_revision: str | Sequence[str] | None = "0009_dead_letters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_processed_calls_table()


def downgrade() -> None:
    drop_processed_calls_table()
