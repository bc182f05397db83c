from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kernel.platform.db import StoredFileColumns, UTCDateTime, utcnow
from services.intake.lifecycle import EDITABLE


class Base(DeclarativeBase):
    pass


class Profile(Base):
    __tablename__ = "profiles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProfileVersion(Base):
    """Editing a profile adds a version; a deposit pins the version it was made under."""

    __tablename__ = "profile_versions"

    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


MEDIATED_SQL = "mediator_id IS NOT NULL"
# the deposits a patron's drafts quota counts (lifecycle.EDITABLE)
UNFINISHED_SQL = "status IN ({})".format(", ".join(f"'{status}'" for status in sorted(EDITABLE)))


class Deposit(Base):
    __tablename__ = "deposits"
    __table_args__ = (
        Index("ix_deposits_depositor_updated", "depositor_id", "updated_at"),
        Index("ix_deposits_status_updated", "status", "updated_at"),
        # every deposit, newest change first (the staff list)
        Index("ix_deposits_updated", "updated_at"),
        # words in titles (ILIKE '%…%'): trigrams on PostgreSQL
        Index(
            "ix_deposits_title_trigrams",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
        # a patron's unfinished deposits, which the drafts quota counts at each new draft
        Index(
            "ix_deposits_unfinished_depositor",
            "depositor_id",
            postgresql_where=text(UNFINISHED_SQL),
            sqlite_where=text(UNFINISHED_SQL),
        ),
        # the dashboard's deposits made for patrons, newest first
        Index(
            "ix_deposits_mediated_created",
            "created_at",
            postgresql_where=text(MEDIATED_SQL),
            sqlite_where=text(MEDIATED_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(64))
    profile_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(500), default="")
    # `metadata` is taken by SQLAlchemy's declarative base
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    depositor_id: Mapped[str] = mapped_column(String(64))
    depositor: Mapped[dict[str, Any]] = mapped_column(JSON)
    mediated_by: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the mediator's id as a column, so the dashboard finds mediated deposits by index
    mediator_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    item_identifier: Mapped[str | None] = mapped_column(String(200), nullable=True)
    item_doi: Mapped[str | None] = mapped_column(String(200), nullable=True)
    validation_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the access the depositor chose within the profile's policy
    access_policy: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    embargo_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    # acceptance of the terms of the profile version the deposit pins
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    terms_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # when the depositor was warned that this untouched draft will be removed; a change
    # after it (updated_at later) calls the removal off
    expiry_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # a new version of an archived item: that item, and the work (concept) it belongs to,
    # by which one person's open new versions of a work are found
    new_version_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    concept_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # the campus system's request that made it (kernel.contracts.campus.OriginSchema), and
    # the system's account, which may act on it while it is a draft
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    origin_account_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    files: Mapped[list[DepositFile]] = relationship(
        back_populates="deposit", order_by="DepositFile.created_at", cascade="all, delete-orphan"
    )
    history: Mapped[list[HistoryEntry]] = relationship(
        order_by="HistoryEntry.id", cascade="all, delete-orphan"
    )


class DepositFile(StoredFileColumns, Base):
    __tablename__ = "deposit_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deposit_id: Mapped[str] = mapped_column(ForeignKey("deposits.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    deposit: Mapped[Deposit] = relationship(back_populates="files")


class HistoryEntry(Base):
    __tablename__ = "deposit_history"
    __table_args__ = (
        # the dashboard: steps of one kind within a span of weeks
        Index("ix_deposit_history_to_status_at", "to_status", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deposit_id: Mapped[str] = mapped_column(ForeignKey("deposits.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # the label the approver's reason had then: what the depositor was told
    reason_label: Mapped[str | None] = mapped_column(String(300), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
