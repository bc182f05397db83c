"""collections tree, access and embargo lifting, search columns, fixity and file events

Revision ID: 0004_collections_search_fixity
Revises: 0003_oai_records_and_withdrawal
Create Date: 2026-11-29 21:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_collections_search_fixity"
down_revision: str | Sequence[str] | None = "0003_oai_records_and_withdrawal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("set_spec", sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f("ix_collections_set_spec"), ["set_spec"], unique=False)
    # the collections there are today are roots (the seed made no tree)
    op.execute("UPDATE collections SET set_spec = id WHERE parent_id IS NULL")

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("embargo_lifted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("doi", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("year", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column(
                "search_vector",
                postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_index(batch_op.f("ix_items_year"), ["year"], unique=False)
        batch_op.create_index("ix_items_access_embargo", ["access", "embargo_until"], unique=False)
        batch_op.create_index("ix_items_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_items_search_vector", ["search_vector"], unique=False, postgresql_using="gin"
        )

    with op.batch_alter_table("item_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("fixity_status", sa.String(length=20), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_item_files_last_checked_at"), ["last_checked_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_item_files_fixity_status"), ["fixity_status"], unique=False
        )

    op.create_table(
        "file_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["item_files.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_events_file_id"), ["file_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("file_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_events_file_id"))
    op.drop_table("file_events")
    with op.batch_alter_table("item_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_files_fixity_status"))
        batch_op.drop_index(batch_op.f("ix_item_files_last_checked_at"))
        batch_op.drop_column("fixity_status")
        batch_op.drop_column("last_checked_at")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_search_vector")
        batch_op.drop_index("ix_items_created_at")
        batch_op.drop_index("ix_items_access_embargo")
        batch_op.drop_index(batch_op.f("ix_items_year"))
        for column in ("search_vector", "search_text", "year", "doi", "embargo_lifted_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collections_set_spec"))
        batch_op.drop_column("set_spec")
        batch_op.drop_column("description")
