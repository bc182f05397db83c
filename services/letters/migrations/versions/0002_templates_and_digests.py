"""letter templates, recipients, pending reviews, digests; HTML part of letters

Revision ID: 0002_templates_and_digests
Revises: 0001_initial_schema
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_templates_and_digests"
down_revision: str | Sequence[str] | None = "0001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("letters") as batch:
        batch.add_column(sa.Column("recipient_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("body_html", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("is_digest", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_letters_recipient_id", ["recipient_id"])
    op.create_table(
        "letter_templates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("letter_type", sa.String(50), nullable=False),
        sa.Column("locale", sa.String(10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("letter_type", "locale", "version"),
    )
    op.create_table(
        "recipients",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("email", sa.String(300), nullable=False),
        sa.Column("locale", sa.String(10), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "pending_reviews",
        sa.Column("deposit_id", sa.String(32), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("depositor", sa.JSON(), nullable=False),
        sa.Column("review", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_pending_reviews_due_at", "pending_reviews", ["due_at"])
    op.create_table(
        "digest_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(400), nullable=False, unique=True),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("deposit_id", sa.String(32), nullable=False),
        sa.Column("letter_type", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("link", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_letter_id", sa.String(32), nullable=True),
    )
    op.create_index(
        "ix_digest_entries_open", "digest_entries", ["recipient_id", "digest_letter_id"]
    )


def downgrade() -> None:
    op.drop_table("digest_entries")
    op.drop_table("pending_reviews")
    op.drop_table("recipients")
    op.drop_table("letter_templates")
    with op.batch_alter_table("letters") as batch:
        batch.drop_index("ix_letters_recipient_id")
        batch.drop_column("is_digest")
        batch.drop_column("body_html")
        batch.drop_column("recipient_id")
