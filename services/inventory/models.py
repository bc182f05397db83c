from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kernel.platform.db import StoredFileColumns, UTCDateTime, utcnow

PUBLIC_SQL = "withdrawn_at IS NULL"  # an item whose landing page is not a tombstone


class Base(DeclarativeBase):
    pass


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("collections.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # the OAI setSpec: ids from the root down, colon-joined; kept up to date on a move
    set_spec: Mapped[str | None] = mapped_column(String(500), nullable=True, index=True)


def _work_of_its_own(context: Any) -> str:
    """A row written without its work (a test's, a benchmark's) is version 1 of a work of
    its own, whose identifier is minted as the migration mints those of existing items."""
    row = context.get_current_parameters()
    return f"{row['identifier'][:-16]}{row['concept_id'][:16]}"


class Item(Base):
    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(200), unique=True)
    deposit_id: Mapped[str] = mapped_column(String(32), unique=True)
    revision: Mapped[int]
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id"), index=True)
    access: Mapped[str] = mapped_column(String(20))
    embargo_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Dublin Core elements, each a list of values
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the profile's resource type (kernel/contracts/resource_types.py): every crosswalk's type
    resource_type: Mapped[str] = mapped_column(String(40), default="text", server_default="text")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # for OAI-PMH: people with their ORCID iDs; when the record last changed, to
    # the second, which orders and pages harvests with id; a withdrawal keeps the row
    creators: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    datestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    embargo_lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    doi: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # search: the year of dc:date, lower-cased words for SQLite, a tsvector on PostgreSQL
    year: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR().with_variant(Text(), "sqlite"), nullable=True
    )
    # the work this item is a version of (versions.py): its id and identifier, shared by
    # every version, and this one's number (1, 2, ...). Always filled (by the defaults at
    # the latest), though nullable: making them NOT NULL would rebuild the table on SQLite,
    # which the foreign keys of its files refuse
    concept_id: Mapped[str] = mapped_column(
        String(32), nullable=True, default=lambda: uuid.uuid4().hex
    )
    concept_identifier: Mapped[str] = mapped_column(
        String(200), nullable=True, index=True, default=_work_of_its_own
    )
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    representations: Mapped[list[Representation]] = relationship(
        order_by="Representation.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_items_datestamp_id", "datestamp", "id"),
        Index("ix_items_collection_datestamp_id", "collection_id", "datestamp", "id"),
        Index("ix_items_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_items_access_embargo", "access", "embargo_until"),
        # browse and search: items not withdrawn, newest first (read backwards), in the
        # whole repository and in one collection, so a page is read in order, not sorted
        Index(
            "ix_items_public_created_id",
            "created_at",
            "id",
            postgresql_where=text(PUBLIC_SQL),
            sqlite_where=text(PUBLIC_SQL),
        ),
        Index(
            "ix_items_public_collection_created_id",
            "collection_id",
            "created_at",
            "id",
            postgresql_where=text(PUBLIC_SQL),
            sqlite_where=text(PUBLIC_SQL),
        ),
        Index("uq_items_concept_version", "concept_id", "version", unique=True),
        # the sitemaps' keyset parts: items not withdrawn, in (datestamp, id) order
        Index(
            "ix_items_public_datestamp_id",
            "datestamp",
            "id",
            postgresql_where=text(PUBLIC_SQL),
            sqlite_where=text(PUBLIC_SQL),
        ),
    )


class Representation(Base):
    __tablename__ = "representations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    usage: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200))

    files: Mapped[list[ItemFile]] = relationship(
        order_by="ItemFile.filename", cascade="all, delete-orphan"
    )


class ItemFile(StoredFileColumns, Base):
    __tablename__ = "item_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    representation_id: Mapped[str] = mapped_column(ForeignKey("representations.id"), index=True)
    # what validation measured (pages, duration, dimensions...)
    technical: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # fixity: when the audit last re-hashed the file, and what it found ("ok", "failed")
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    fixity_status: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)

    events: Mapped[list[FileEvent]] = relationship(
        order_by="FileEvent.id", cascade="all, delete-orphan"
    )


class FileEvent(Base):
    """A PREMIS-style event in a file's life: ingestion, replication (copy), fixity check."""

    __tablename__ = "file_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("item_files.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    agent: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ItemCorrection(Base):
    """A manager's correction of an item's metadata: who, when, why, and per element the
    values before and after ([{element, before, after}])."""

    __tablename__ = "item_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    actor: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunningJob(Base):
    """A job that runs once at a time in all inventory processes together: its row is the
    lock, taken by inserting it and given back by deleting it."""

    __tablename__ = "running_jobs"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


VERSION, CONCEPT = "version", "concept"  # the kinds of DOI registrations


class DoiRegistration(Base):
    """A DOI Lodge minted and its registration at DataCite: `reserved` when minted (in the
    item's own transaction), `registered` once DataCite took its current metadata, `failed`
    while the last attempt failed. `kind`: an item's own DOI ("version") or one DOI for
    all versions of a work ("concept"); `item_id` is the item it resolves to."""

    __tablename__ = "doi_registrations"

    doi: Mapped[str] = mapped_column(String(200), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BagExport(Base):
    """An item's preservation export (services/inventory/bags.py): the last bag written,
    where, and of which state of the item; a request from staff; the last failure."""

    __tablename__ = "bag_exports"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the item's datestamp the bag was made from: a later one means the item changed since
    item_datestamp: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload_oxum: Mapped[str | None] = mapped_column(String(50), nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


# --- usage statistics (COUNTER; services/inventory/usage.py) ------------------------------


class UsageMonth(Base):
    """An item's COUNTER figures for one month (`YYYY-MM`, UTC)."""

    __tablename__ = "usage_months"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True, index=True)
    total_investigations: Mapped[int] = mapped_column(Integer, default=0)
    unique_investigations: Mapped[int] = mapped_column(Integer, default=0)
    total_requests: Mapped[int] = mapped_column(Integer, default=0)
    unique_requests: Mapped[int] = mapped_column(Integer, default=0)


class UsageClick(Base):
    """The last hit that counted, per user (a hash that changes daily) and what was hit
    (`item:<id>` or `file:<id>`): the double-click rule looks back at it."""

    __tablename__ = "usage_clicks"

    user_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class UsageSessionItem(Base):
    """How many counted hits a COUNTER session (a user in one clock hour) made on an item,
    per metric (`investigation`, `request`): the unique counts follow it from 0 to 1 and
    back."""

    __tablename__ = "usage_session_items"

    user_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)
    item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    metric: Mapped[str] = mapped_column(String(20), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
