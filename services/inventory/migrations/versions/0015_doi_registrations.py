"""DOIs registered at DataCite: a row per DOI with its registration's state

Revision ID: 0015_doi_registrations
Revises: 0014_sitemap_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_doi_registrations"
down_revision: str | Sequence[str] | None = "0014_sitemap_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "doi_registrations",
        sa.Column("doi", sa.String(length=200), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("doi"),
    )
    with op.batch_alter_table("doi_registrations") as batch_op:
        batch_op.create_index("ix_doi_registrations_item_id", ["item_id"])
        batch_op.create_index("ix_doi_registrations_state", ["state"])


def downgrade() -> None:
    op.drop_table("doi_registrations")
