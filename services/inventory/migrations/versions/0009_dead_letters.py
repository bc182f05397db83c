"""dead letters parked for an administrator to replay or drop

Revision ID: 0009_dead_letters
Revises: 0008_outbox_headers
"""

from collections.abc import Sequence

from kernel.platform.migrations import create_dead_letters_table, drop_dead_letters_table

revision: str = "0009_dead_letters"
down_revision: str | Sequence[str] | None = "0008_outbox_headers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_dead_letters_table()


def downgrade() -> None:
    drop_dead_letters_table()
