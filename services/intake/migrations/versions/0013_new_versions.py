"""a deposit may be a new version of an archived item, of the work that item belongs to

Revision ID: 0013_new_versions
Revises: 0012_call_replies
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_new_versions"
down_revision: str | Sequence[str] | None = "0012_call_replies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.add_column(sa.Column("new_version_of", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("concept_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_deposits_concept_id", ["concept_id"])


def downgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.drop_index("ix_deposits_concept_id")
        batch.drop_column("concept_id")
        batch.drop_column("new_version_of")
