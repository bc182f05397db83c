"""Usage statistics by the COUNTER Code of Practice (Release 5.1): views of landing pages
(Investigations) and downloads of files (Requests), per item and month.

The rules, free of any database (`count` over a `Ledger`):
- a download is a Request and also an Investigation (every Request is one, section 3.3);
- double clicks (7.2): the same user on the same landing page, or the same file, within
  30 seconds counts once, and the later click is the one kept, so a run of reloads counts
  once, at its last;
- unique counts (7.3): an item counts once per session and metric, a session being the
  user in one clock hour of one day (UTC), COUNTER's surrogate session id;
- months are UTC calendar months of the hit's time.
Robots (7.8) never get here: the gateway leaves them out, so no user agent leaves it.

`StoredLedger` keeps the same ledger in inventory's tables; a batch is applied once
(its id is recorded with the figures, in the same transaction).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.orm import Session

from kernel.contracts.exceptions import NotFound
from kernel.contracts.usage import INVESTIGATION, REQUEST
from kernel.platform.db import ProcessedEvent, UnitOfWork
from services.inventory.models import (
    Collection,
    Item,
    ItemFile,
    Representation,
    UsageClick,
    UsageMonth,
    UsageSessionItem,
)
from services.inventory.search import without_orcid

DOUBLE_CLICK = timedelta(seconds=30)
# what the double-click and session rules look back at is kept this long: a batch a
# gateway could not send at once still finds it
KEPT_STATE = timedelta(days=2)
FORGET_EVERY_SECONDS = 3600
BATCH_KEY = "usage batch "  # a batch's id among the processed events
# one ledger writer at a time across inventory processes (PostgreSQL advisory lock id)
LOCK_ID = 0x10D6E05A6E
COLUMNS = {
    INVESTIGATION: ("total_investigations", "unique_investigations"),
    REQUEST: ("total_requests", "unique_requests"),
}


@dataclass(frozen=True)
class Hit:
    kind: str  # INVESTIGATION (a landing page) or REQUEST (a file)
    item_id: str
    file_id: str | None
    user: str  # a keyed hash of who, never an address
    at: datetime

    @property
    def target(self) -> str:
        """What a double click repeats: the landing page, or the very file."""
        return f"file:{self.file_id}" if self.kind == REQUEST else f"item:{self.item_id}"

    @property
    def month(self) -> str:
        return self.at.strftime("%Y-%m")

    @property
    def hour(self) -> datetime:
        """The session: this user in this clock hour."""
        return self.at.replace(minute=0, second=0, microsecond=0)

    @property
    def metrics(self) -> tuple[str, ...]:
        return (INVESTIGATION, REQUEST) if self.kind == REQUEST else (INVESTIGATION,)


class Ledger:
    """The state the rules read and change, in memory: the last counted click per user and
    target, counted hits per session, item and metric, and the changes to the monthly
    figures (`changes[(item_id, month)][column]`)."""

    def __init__(self) -> None:
        self.clicks: dict[tuple[str, str], datetime] = {}
        self.sessions: dict[tuple[str, datetime, str, str], int] = {}
        self.changes: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)


def count(ledger: Ledger, hits: Iterable[Hit]) -> int:
    """Apply `hits` (in any order) to `ledger`; how many of them count now."""
    counted = 0
    for hit in sorted(hits, key=lambda h: h.at):
        previous = ledger.clicks.get((hit.user, hit.target))
        if previous is not None and abs(hit.at - previous) <= DOUBLE_CLICK:
            if hit.at < previous:  # the earlier click of a pair, arrived late: not kept
                continue
            _tally(ledger, replace(hit, at=previous), -1)  # the later click replaces it
            counted -= 1
        _tally(ledger, hit, +1)
        ledger.clicks[(hit.user, hit.target)] = hit.at
        counted += 1
    return counted


def _tally(ledger: Ledger, hit: Hit, delta: int) -> None:
    figures = ledger.changes[(hit.item_id, hit.month)]
    for metric in hit.metrics:
        total, unique = COLUMNS[metric]
        figures[total] += delta
        key = (hit.user, hit.hour, hit.item_id, metric)
        before = ledger.sessions.get(key, 0)
        ledger.sessions[key] = before + delta
        if (before == 0 and delta > 0) or (before == 1 and delta < 0):
            figures[unique] += delta


# --- in inventory's tables ------------------------------------------------------------


class StoredLedger(Ledger):
    """The ledger of the users and sessions of `hits`, read from the tables; `save` writes
    back what changed."""

    def __init__(self, session: Session, hits: list[Hit]) -> None:
        super().__init__()
        self.session = session
        users = {hit.user for hit in hits}
        self._clicks = {
            (row.user_key, row.target): row
            for row in session.scalars(select(UsageClick).where(UsageClick.user_key.in_(users)))
        }
        self.clicks = {key: row.at for key, row in self._clicks.items()}
        # a click the batch replaces as a double click takes its session's count back
        hours = {(hit.user, hit.hour) for hit in hits} | {
            (user, at.replace(minute=0, second=0, microsecond=0))
            for (user, _target), at in self.clicks.items()
        }
        self._sessions = {
            (row.user_key, row.hour, row.item_id, row.metric): row
            for row in session.scalars(
                select(UsageSessionItem).where(
                    tuple_(UsageSessionItem.user_key, UsageSessionItem.hour).in_(hours)
                )
            )
        }
        self.sessions = {key: row.hits for key, row in self._sessions.items()}

    def save(self) -> None:
        for (user, target), at in self.clicks.items():
            click = self._clicks.get((user, target))
            if click is None:
                self.session.add(UsageClick(user_key=user, target=target, at=at))
            else:
                click.at = at
        for (user, hour, item_id, metric), hits in self.sessions.items():
            row = self._sessions.get((user, hour, item_id, metric))
            if row is None:
                row = UsageSessionItem(user_key=user, hour=hour, item_id=item_id, metric=metric)
                self.session.add(row)
            row.hits = hits
        for (item_id, month), changed in self.changes.items():
            figures = self.session.get(UsageMonth, (item_id, month))
            if figures is None:
                figures = UsageMonth(item_id=item_id, month=month, **dict.fromkeys(COLUMN_NAMES, 0))
                self.session.add(figures)
            for column, delta in changed.items():
                setattr(figures, column, getattr(figures, column) + delta)


COLUMN_NAMES = tuple(column for pair in COLUMNS.values() for column in pair)


def record(uow: UnitOfWork, batch_id: str, hits: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply one batch from a gateway, once: a batch sent again (its reply was lost, or the
    gateway retried after a failure) changes nothing."""
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        # the rules read, then write, the state of the users in the batch
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
    if not uow.first_time(BATCH_KEY + batch_id):
        return {"counted": 0, "repeated": True}
    wanted = countable(session, [Hit(**{**hit, "at": utc(hit["at"])}) for hit in hits])
    ledger = StoredLedger(session, wanted)
    counted = count(ledger, wanted)
    ledger.save()
    return {"counted": counted, "repeated": False}


def utc(at: datetime) -> datetime:
    """Hours and months are UTC's; a time without a zone is taken as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def countable(session: Session, hits: list[Hit]) -> list[Hit]:
    """The hits on items that are in the repository, and on those items' own files: a
    withdrawn item, or an id that names nothing, counts nothing."""
    item_ids = {hit.item_id for hit in hits}
    live = set(
        session.scalars(select(Item.id).where(Item.id.in_(item_ids), Item.withdrawn_at.is_(None)))
    )
    file_ids = {hit.file_id for hit in hits if hit.kind == REQUEST}
    owner = dict(
        session.execute(
            select(ItemFile.id, Representation.item_id)
            .join(Representation, ItemFile.representation_id == Representation.id)
            .where(ItemFile.id.in_(file_ids))
        )
        .tuples()
        .all()
    )
    return [
        hit
        for hit in hits
        if hit.item_id in live
        and (hit.kind != REQUEST or owner.get(hit.file_id or "") == hit.item_id)
    ]


def forget_old_state(session: Session, now: datetime) -> None:
    """The rules look back 30 seconds and an hour, and a gateway sends a batch again
    within seconds: what is older than KEPT_STATE goes, batch ids included."""
    cutoff = now - KEPT_STATE
    session.execute(delete(UsageClick).where(UsageClick.at < cutoff))
    session.execute(delete(UsageSessionItem).where(UsageSessionItem.hour < cutoff))
    session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.key.startswith(BATCH_KEY), ProcessedEvent.processed_at < cutoff
        )
    )


# --- reading the figures ----------------------------------------------------------------


def item_totals(session: Session, item_id: str) -> dict[str, int]:
    views, downloads = session.execute(
        select(
            func.coalesce(func.sum(UsageMonth.total_investigations), 0),
            func.coalesce(func.sum(UsageMonth.total_requests), 0),
        ).where(UsageMonth.item_id == item_id)
    ).one()
    return {"views": int(views), "downloads": int(downloads)}


def report(session: Session, begin: str, end: str, collection_id: str | None) -> dict[str, Any]:
    """Every item with usage from `begin` to `end` (months, both included), in one
    collection or all, its figures by month: the COUNTER Item Report's data."""
    if collection_id is not None and session.get(Collection, collection_id) is None:
        raise NotFound("There is no such collection.", fields={"collection": ["not found"]})
    statement = (
        select(UsageMonth, Item)
        .join(Item, Item.id == UsageMonth.item_id)
        .where(UsageMonth.month >= begin, UsageMonth.month <= end)
        .order_by(Item.id, UsageMonth.month)
    )
    if collection_id is not None:
        statement = statement.where(Item.collection_id == collection_id)
    rows: dict[str, dict[str, Any]] = {}
    for figures, item in session.execute(statement).tuples():
        row = rows.get(item.id)
        if row is None:
            row = rows[item.id] = _report_row(item)
        row["months"].append(
            {
                "month": figures.month,
                "figures": {
                    "Total_Item_Investigations": figures.total_investigations,
                    "Unique_Item_Investigations": figures.unique_investigations,
                    "Total_Item_Requests": figures.total_requests,
                    "Unique_Item_Requests": figures.unique_requests,
                },
            }
        )
    return {"begin": begin, "end": end, "collection": collection_id, "items": list(rows.values())}


def _report_row(item: Item) -> dict[str, Any]:
    record = item.record
    return {
        "item_id": item.id,
        "identifier": item.identifier,
        "doi": item.doi,
        "title": (record.get("title") or [""])[0],
        "creators": [without_orcid(name) for name in record.get("creator", [])],
        "year": item.year,
        "access": item.access,
        "resource_type": item.resource_type,
        "collection": item.collection_id,
        "months": [],
    }


def top_items(session: Session, limit: int) -> list[dict[str, Any]]:
    """Per collection, the items viewed and downloaded most, all time (items still in the
    repository); collections without usage are left out."""
    views = func.sum(UsageMonth.total_investigations)
    downloads = func.sum(UsageMonth.total_requests)
    sums = (
        select(
            Item.collection_id.label("collection"),
            Item.id.label("item_id"),
            views.label("views"),
            downloads.label("downloads"),
        )
        .join(Item, Item.id == UsageMonth.item_id)
        .where(Item.withdrawn_at.is_(None))
        .group_by(Item.collection_id, Item.id)
        .subquery()
    )
    ranked: list[tuple[str, str, str, int]] = []
    for measure in ("views", "downloads"):
        place = (
            func.row_number()
            .over(partition_by=sums.c.collection, order_by=(sums.c[measure].desc(), sums.c.item_id))
            .label("place")
        )
        inner = select(sums.c.collection, sums.c.item_id, sums.c[measure].label("n"), place).where(
            sums.c[measure] > 0
        )
        ranked_rows = inner.subquery()
        ranked.extend(
            (measure, *row)
            for row in session.execute(
                select(ranked_rows.c.collection, ranked_rows.c.item_id, ranked_rows.c.n)
                .where(ranked_rows.c.place <= limit)
                .order_by(ranked_rows.c.collection, ranked_rows.c.place)
            ).tuples()
        )
    titles = {
        item.id: (item.record.get("title") or [""])[0]
        for item in session.scalars(select(Item).where(Item.id.in_({r[2] for r in ranked})))
    }
    names = dict(session.execute(select(Collection.id, Collection.name)).tuples().all())
    tables: dict[str, dict[str, Any]] = {}
    for measure, collection_id, item_id, n in ranked:
        table = tables.setdefault(
            collection_id,
            {
                "collection": collection_id,
                "name": names.get(collection_id, collection_id),
                "most_viewed": [],
                "most_downloaded": [],
            },
        )
        key = "most_viewed" if measure == "views" else "most_downloaded"
        table[key].append({"item_id": item_id, "title": titles[item_id], "count": int(n)})
    return sorted(tables.values(), key=lambda table: table["name"].casefold())
