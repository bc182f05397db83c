"""queue columns, approver-group sets, staff notes

Revision ID: 0002_queue_columns_groups_notes
Revises: 0001_initial_schema
Create Date: 2026-11-29 21:40:00

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002_queue_columns_groups_notes"
down_revision: str | Sequence[str] | None = "0001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING_SQL = "state IN ('open', 'claimed')"
QUEUE_INDEXES = {
    "ix_review_tasks_assignee_state_created": (["assignee_id", "state", "created_at"], None),
    "ix_review_tasks_pending_created": (
        [
            "created_at",
            "id",
            "groups_key",
            "state",
            "assignee_id",
            "due_at",
            "profile_id",
            "collection",
            "depositor_id",
            "depositor_name",
        ],
        PENDING_SQL,
    ),
    "ix_review_tasks_pending_due": (["due_at", "created_at"], PENDING_SQL),
    "ix_review_tasks_profile_created": (["profile_id", "created_at"], None),
    "ix_review_tasks_collection_created": (["collection", "created_at"], None),
    "ix_review_tasks_depositor": (["depositor_id"], None),
}


def upgrade() -> None:
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("collection", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("depositor_id", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("depositor_name", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("groups_key", sa.String(length=1000), nullable=False, server_default="*")
        )
    for name, (columns, where) in QUEUE_INDEXES.items():
        partial: dict[str, Any] = (
            {}
            if where is None
            else {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}
        )
        op.create_index(name, "review_tasks", columns, unique=False, **partial)
    op.create_table(
        "approver_group_sets",
        sa.Column("groups_key", sa.String(length=1000), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("groups_key", "group_name"),
    )
    with op.batch_alter_table("approver_group_sets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approver_group_sets_group_name"), ["group_name"], unique=False
        )
    op.create_table(
        "staff_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deposit_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("author", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_notes_deposit_id"), ["deposit_id"], unique=False)
    _backfill()


def _backfill() -> None:
    """Fill the new columns and group sets of tasks queued before this revision."""

    def groups_key(approver_groups):  # as services.approval.models.groups_key
        return "\n".join(sorted(set(approver_groups))) or "*"

    bind = op.get_bind()
    tasks = sa.table(
        "review_tasks",
        sa.column("id"),
        sa.column("depositor"),
        sa.column("approver_groups"),
        sa.column("deposit"),
        sa.column("collection"),
        sa.column("depositor_id"),
        sa.column("depositor_name"),
        sa.column("groups_key"),
    )
    sets = sa.table("approver_group_sets", sa.column("groups_key"), sa.column("group_name"))
    known = set()
    for row in bind.execute(
        sa.select(tasks.c.id, tasks.c.depositor, tasks.c.approver_groups, tasks.c.deposit)
    ).all():
        depositor = row.depositor or {}
        key = groups_key(row.approver_groups or [])
        bind.execute(
            tasks.update()
            .where(tasks.c.id == row.id)
            .values(
                collection=((row.deposit or {}).get("profile") or {}).get("target_collection", ""),
                depositor_id=depositor.get("id", ""),
                depositor_name=depositor.get("name", ""),
                groups_key=key,
            )
        )
        for name in row.approver_groups or ["*"]:
            if (key, name) not in known:
                known.add((key, name))
                bind.execute(sets.insert().values(groups_key=key, group_name=name))


def downgrade() -> None:
    op.drop_table("staff_notes")
    op.drop_table("approver_group_sets")
    for name in QUEUE_INDEXES:
        op.drop_index(name, table_name="review_tasks")
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        for column in (
            "groups_key",
            "claimed_at",
            "due_at",
            "depositor_name",
            "depositor_id",
            "collection",
        ):
            batch_op.drop_column(column)
