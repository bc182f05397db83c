"""the outbox keeps the correlation id and trace context of each event

Revision ID: 0010_outbox_headers
Revises: 0009_profile_resource_types
Create Date: 2026-12-06 09:40:00

"""

from collections.abc import Sequence

from kernel.platform.migrations import add_outbox_headers, drop_outbox_headers

revision: str = "0010_outbox_headers"
down_revision: str | Sequence[str] | None = "0009_profile_resource_types"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_headers()


def downgrade() -> None:
    drop_outbox_headers()
