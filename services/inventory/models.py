from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, object_session, relationship

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
    # moves on every change to the row or to its files (renderings.py): a stored rendering
    # names the serial it was made from
    serial: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

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


class ItemRendering(Base):
    """An item's record in one OAI-PMH metadata format, as a harvest rendered it
    (renderings.py): good while the item's serial and the digest of what else it was
    rendered from (its relations, the site) are the same, and until `expires_on`."""

    __tablename__ = "item_renderings"

    item_id: Mapped[str] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    metadata_prefix: Mapped[str] = mapped_column(String(40), primary_key=True)
    serial: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(32))
    # the day it would render differently (an embargo's end), if there is one
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    body: Mapped[str] = mapped_column(Text)


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


# --- Item.serial: what an item's kept renderings were made from (renderings.py) -----------
# Mapper events, so that no write path through the ORM can forget them. An item's record
# names the other versions of its work (their identifiers and DOIs, in version order) and
# the work's concept DOI: a change to those moves the serial of every version of the work.

_RELATED_COLUMNS = ("identifier", "doi", "version", "concept_id")
_FILE_COLUMNS = ("id", "filename", "media_type", "representation_id")  # what records show
_ITEMS = cast("Table", Item.__table__)


def _changed(target: Any, *names: str) -> bool:
    """Whether this flush changes any of the attributes."""
    state = inspect(target)
    return any(state.attrs[name].history.has_changes() for name in names)


def _before(target: Any, name: str) -> set[Any]:
    """An attribute's values before this flush and now."""
    history = inspect(target).attrs[name].history
    return {*history.deleted, *history.unchanged, *history.added} - {None}


def _items_move(connection: Any, which: ColumnElement[bool]) -> None:
    connection.execute(update(_ITEMS).where(which).values(serial=_ITEMS.c.serial + 1))


def _files_owners_move(connection: Any, representation_ids: set[str]) -> None:
    owners = select(Representation.item_id).where(Representation.id.in_(representation_ids))
    _items_move(connection, _ITEMS.c.id.in_(owners.scalar_subquery()))


def _works_move(connection: Any, concept_ids: set[str]) -> None:
    """Every version of the works. Each work's latest version is locked first, as
    archiving a new version locks it (versions.continue_work): a version being added
    meanwhile is committed before the update reads the work, so it moves too."""
    for concept_id in sorted(concept_ids - {None}):
        connection.execute(
            select(_ITEMS.c.id)
            .where(_ITEMS.c.concept_id == concept_id)
            .order_by(_ITEMS.c.version.desc())
            .limit(1)
            .with_for_update()
        )
        _items_move(connection, _ITEMS.c.concept_id == concept_id)


@event.listens_for(Item, "before_update")
def _row_changed(mapper: Any, connection: Any, item: Item) -> None:
    session = object_session(item)
    if session is not None and session.is_modified(item, include_collections=False):
        item.serial = Item.serial + 1  # SQL, evaluated in the UPDATE: no lost increment


@event.listens_for(Item, "after_update")
def _versions_renamed(mapper: Any, connection: Any, item: Item) -> None:
    if _changed(item, *_RELATED_COLUMNS):  # a version moved to another work: both
        _works_move(connection, _before(item, "concept_id"))


@event.listens_for(Item, "after_insert")
def _version_added(mapper: Any, connection: Any, item: Item) -> None:
    if item.version > 1:  # version 1 starts a work: there is nobody else to tell
        _works_move(connection, {item.concept_id})


@event.listens_for(ItemFile, "after_insert")
@event.listens_for(ItemFile, "after_delete")
def _files_added_or_removed(mapper: Any, connection: Any, item_file: ItemFile) -> None:
    _files_owners_move(connection, {item_file.representation_id})


@event.listens_for(ItemFile, "after_update")
def _file_changed(mapper: Any, connection: Any, item_file: ItemFile) -> None:
    if _changed(item_file, *_FILE_COLUMNS):  # not the fixity audit's columns
        _files_owners_move(connection, _before(item_file, "representation_id"))


@event.listens_for(Representation, "after_update")
def _representation_moved(mapper: Any, connection: Any, representation: Representation) -> None:
    if _changed(representation, "item_id"):
        _items_move(connection, _ITEMS.c.id.in_(sorted(_before(representation, "item_id"))))


@event.listens_for(DoiRegistration, "after_insert")
@event.listens_for(DoiRegistration, "after_delete")
@event.listens_for(DoiRegistration, "after_update")
def _concept_doi_changed(mapper: Any, connection: Any, registration: DoiRegistration) -> None:
    """Every version names its work by the concept DOI. It is pointed at another version
    of its work whenever the work changes, which changes nothing shown: only a concept
    DOI added, removed, or moved to another work moves the serials."""
    if CONCEPT not in _before(registration, "kind"):
        return
    persistent = inspect(registration).persistent
    if persistent and not _changed(registration, "kind", "item_id"):
        return  # its state, as each sync records it
    items = _before(registration, "item_id")
    works = set(
        connection.execute(
            select(_ITEMS.c.concept_id).where(_ITEMS.c.id.in_(sorted(items)))
        ).scalars()
    )
    if persistent and not _changed(registration, "kind") and len(works) < 2:
        return  # pointed at another version of the same work
    _works_move(connection, works)
