"""What every owner's migrations share: the env.py body, the messaging tables, cleaning rows.

`lodge migrate` (lodge/migrations.py) knows the owners and runs their chains."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData

from kernel.platform.db import MessagingBase, make_engine
from kernel.policy.text import clean_tree


def run_env(metadata: MetaData, with_messaging: bool = True) -> None:
    """The body of every migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("run Alembic through alembic_config(), which sets sqlalchemy.url")
    target = [metadata, MessagingBase.metadata] if with_messaging else [metadata]
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target,
            render_as_batch=url.startswith("sqlite"),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def create_messaging_tables() -> None:
    """The outbox and processed-event tables every service's first migration creates."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "processed_events",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def add_outbox_headers() -> None:
    """The outbox keeps each event's correlation id and trace context (rows before: none)."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("headers", sa.JSON(), nullable=True))


def drop_outbox_headers() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("headers")


def create_dead_letters_table() -> None:
    """Where a service parks the messages its handlers could not take (`DeadLetter`)."""
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("content_encoding", sa.String(length=100), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.Column("replayed_by", sa.String(length=300), nullable=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dropped_by", sa.String(length=300), nullable=True),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drop_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dead_letters_state_failed_at", "dead_letters", ["state", "failed_at"])


def drop_dead_letters_table() -> None:
    op.drop_index("ix_dead_letters_state_failed_at", table_name="dead_letters")
    op.drop_table("dead_letters")


def add_call_replies() -> None:
    """Processed events also keep the RPC requests carried out (`rpc <key>`), with their
    replies, so a request delivered again answers its first reply; older ones are deleted
    by age."""
    with op.batch_alter_table("processed_events") as batch:
        batch.add_column(sa.Column("reply", sa.Text(), nullable=True))
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])


def drop_call_replies() -> None:
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
    with op.batch_alter_table("processed_events") as batch:
        batch.drop_column("reply")


def drop_messaging_tables() -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")


def clean_rows(connection, table, columns: tuple[str, ...], batch: int = 500) -> int:
    """`clean_tree` applied to `columns` of every row of `table` (SQLAlchemy Core, keyed by
    `id`), in batches; rows already clean are not written. For the migrations that clean
    what was stored before the text rule held. Returns how many rows changed."""
    changed, last = 0, ""
    while True:
        rows = connection.execute(
            sa.select(table.c.id, *(table.c[name] for name in columns))
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(batch)
        ).all()
        for row in rows:
            values = {name: getattr(row, name) for name in columns}
            cleaned = {name: clean_tree(value) for name, value in values.items()}
            if cleaned != values:
                connection.execute(sa.update(table).where(table.c.id == row.id).values(cleaned))
                changed += 1
        if len(rows) < batch:
            return changed
        last = rows[-1].id
