"""indexes for the staff dashboard and the list of every deposit

Revision ID: 0003_dashboard_indexes
Revises: 0002_access_choice_terms
Create Date: 2026-11-29 21:40:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_dashboard_indexes"
down_revision: str | Sequence[str] | None = "0002_access_choice_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deposits_updated", "deposits", ["updated_at"])
    op.create_index("ix_deposit_history_to_status_at", "deposit_history", ["to_status", "at"])


def downgrade() -> None:
    op.drop_index("ix_deposit_history_to_status_at", table_name="deposit_history")
    op.drop_index("ix_deposits_updated", table_name="deposits")
