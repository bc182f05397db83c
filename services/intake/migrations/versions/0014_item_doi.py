"""an archived deposit keeps its item's DOI beside its identifier, for letters and pages

Revision ID: 0014_item_doi
Revises: 0013_new_versions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_item_doi"
down_revision: str | Sequence[str] | None = "0013_new_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deposits") as batch_op:
        batch_op.add_column(sa.Column("item_doi", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deposits") as batch_op:
        batch_op.drop_column("item_doi")
