"""initial schema

Revision ID: 0001_initial_schema
Revises:
Create Date: 2026-11-29 13:53:05.348648

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kernel.platform.migrations import create_messaging_tables, drop_messaging_tables

# revision identifiers, used by Alembic.
revision: str = "0001_initial_schema"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "deposits",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("profile_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("depositor_id", sa.String(length=64), nullable=False),
        sa.Column("depositor", sa.JSON(), nullable=False),
        sa.Column("mediated_by", sa.JSON(), nullable=True),
        sa.Column("item_id", sa.String(length=32), nullable=True),
        sa.Column("item_identifier", sa.String(length=200), nullable=True),
        sa.Column("validation_report", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deposits_depositor_updated", ["depositor_id", "updated_at"], unique=False
        )
        batch_op.create_index("ix_deposits_status_updated", ["status", "updated_at"], unique=False)

    op.create_table(
        "profiles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "deposit_files",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deposit_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deposit_id"],
            ["deposits.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deposit_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deposit_files_deposit_id"), ["deposit_id"], unique=False
        )

    op.create_table(
        "deposit_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deposit_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("reason_code", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deposit_id"],
            ["deposits.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deposit_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deposit_history_deposit_id"), ["deposit_id"], unique=False
        )

    op.create_table(
        "profile_versions",
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
        ),
        sa.PrimaryKeyConstraint("profile_id", "version"),
    )
    create_messaging_tables()


def downgrade() -> None:
    """Downgrade schema."""
    drop_messaging_tables()
    op.drop_table("profile_versions")
    with op.batch_alter_table("deposit_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deposit_history_deposit_id"))

    op.drop_table("deposit_history")
    with op.batch_alter_table("deposit_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deposit_files_deposit_id"))

    op.drop_table("deposit_files")
    op.drop_table("profiles")
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.drop_index("ix_deposits_status_updated")
        batch_op.drop_index("ix_deposits_depositor_updated")

    op.drop_table("deposits")
