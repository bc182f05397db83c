"""processed RPC requests keep their replies, so a request delivered again answers its first reply

Revision ID: 0012_call_replies
Revises: 0011_dead_letters
"""

from collections.abc import Sequence

from kernel.platform.migrations import add_call_replies, drop_call_replies

revision: str = "0012_call_replies"
down_revision: str | Sequence[str] | None = "0011_dead_letters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_call_replies()


def downgrade() -> None:
    drop_call_replies()
