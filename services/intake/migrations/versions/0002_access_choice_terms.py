"""access choice and terms acceptance

Revision ID: 0002_access_choice_terms
Revises: 0001_initial_schema
Create Date: 2026-11-29 14:34:42.540442

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_access_choice_terms"
down_revision: str | Sequence[str] | None = "0001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("access_policy", sa.String(length=20), nullable=False, server_default="open")
        )
        batch_op.add_column(sa.Column("embargo_until", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("terms_accepted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("terms_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.drop_column("terms_version")
        batch_op.drop_column("terms_accepted_at")
        batch_op.drop_column("embargo_until")
        batch_op.drop_column("access_policy")
