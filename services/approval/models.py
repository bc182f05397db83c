from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.contracts.approval import PENDING_STATES
from kernel.platform.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


ANY_APPROVER = "*"  # the group set of a profile that names no approver groups


def groups_key(approver_groups: list[str]) -> str:
    """One name for a set of approver groups: the same set always gets the same key."""
    return "\n".join(sorted(set(approver_groups))) or ANY_APPROVER


# the queue's partial indexes
PENDING_SQL = f"state IN ({', '.join(repr(state) for state in PENDING_STATES)})"
QUEUE_COLUMNS = (
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
)


class ReviewTask(Base):
    """One per deposit revision that reached approval; the row approvers lock to decide."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        UniqueConstraint("deposit_id", "revision"),
        Index("ix_review_tasks_state_created", "state", "created_at"),
        Index("ix_review_tasks_assignee_state_created", "assignee_id", "state", "created_at"),
        # every column the queue filters on, so its page ids and tab counts come from
        # index-only scans over pending tasks, in created order
        Index(
            "ix_review_tasks_pending_created",
            *QUEUE_COLUMNS,
            postgresql_where=text(PENDING_SQL),
            sqlite_where=text(PENDING_SQL),
        ),
        Index(
            "ix_review_tasks_pending_due",
            "due_at",
            "created_at",
            postgresql_where=text(PENDING_SQL),
            sqlite_where=text(PENDING_SQL),
        ),
        Index("ix_review_tasks_profile_created", "profile_id", "created_at"),
        Index("ix_review_tasks_collection_created", "collection", "created_at"),
        Index("ix_review_tasks_depositor", "depositor_id"),
        # the tab counts without filters: only the approver's group sets, few columns
        Index(
            "ix_review_tasks_pending_counts",
            "groups_key",
            "state",
            "assignee_id",
            "due_at",
            postgresql_where=text(PENDING_SQL),
            sqlite_where=text(PENDING_SQL),
        ),
        # the depositor filter matches part of a name (ILIKE '%…%'): trigrams on PostgreSQL
        Index(
            "ix_review_tasks_pending_depositor_name",
            "depositor_name",
            postgresql_using="gin",
            postgresql_ops={"depositor_name": "gin_trgm_ops"},
            postgresql_where=text(PENDING_SQL),
            sqlite_where=text(PENDING_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deposit_id: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))  # open, claimed, decided, cancelled
    title: Mapped[str] = mapped_column(String(500), default="")
    profile_id: Mapped[str] = mapped_column(String(64), default="")
    depositor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    approver_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    assignee_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    assignee: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the deposit as submitted: what deposit_approved hands to inventory
    deposit: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # columns the queue filters and sorts on, so no query looks inside JSON
    collection: Mapped[str] = mapped_column(String(100), default="", server_default="")
    depositor_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    depositor_name: Mapped[str] = mapped_column(String(300), default="", server_default="")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the claim's last sign of life: claiming, a note, a metadata edit; idle claims go back
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    groups_key: Mapped[str] = mapped_column(
        String(1000), default=ANY_APPROVER, server_default=ANY_APPROVER
    )


class ApproverGroupSet(Base):
    """Which groups each approver-group set holds: a handful of rows, one per profile's
    set and group. The queue picks the sets an approver is in, then filters tasks by their
    indexed `groups_key`, so counting a tab never joins task to group row by row."""

    __tablename__ = "approver_group_sets"

    groups_key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class StaffNote(Base):
    """Approvers' notes on a deposit; never shown to the depositor."""

    __tablename__ = "staff_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deposit_id: Mapped[str] = mapped_column(String(32), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    author: Mapped[dict[str, Any]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("deposit_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deposit_id: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(20))
    actor: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reason(Base):
    """Code tables of decline and return reasons, managed by deposit managers."""

    __tablename__ = "reasons"
    __table_args__ = (UniqueConstraint("kind", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # decline or return
    code: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(300))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
