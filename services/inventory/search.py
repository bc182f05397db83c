"""Finding items by title, creator, keyword and year.

PostgreSQL: a `tsvector` column, filled when the item is created and GIN-indexed,
matched with `websearch_to_tsquery` (quotes, `or`, `-word` work as people expect).
The `simple` configuration, without stemming, because a repository holds many
languages. The year is one of an item's words, and in the vector its lexeme carries
weight A, which no word of the text gets: words with a year are then one query of the
GIN index (`moss & '2020':A`), which intersects the two inside the index and is
estimated as one, instead of a bitmap of every item with the word ANDed with one of
every item of the year. SQLite: every word of the query must occur in the item's
lower-cased text.

What a page costs is bounded by RESULT_CAP, not by the size of the repository: each
match counted or ranked is a read of its row, so matches are counted up to it ("more
than 1,000 results"), ranked and their years counted only when they are at most that
many (more are listed newest first, an index order, and every year items have is
offered, uncounted), and a page must start within it.
Withdrawn items are tombstones: neither found nor browsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session

from kernel.contracts.inventory import SEARCH_RESULT_CAP
from kernel.platform.db import SideRead
from kernel.policy.text import split_orcid, user_pattern
from services.inventory.models import Collection, Item

TS_CONFIG = "simple"
YEAR_WEIGHT = "A"  # the year's lexeme; the text's words keep the default, D
SEARCHED_ELEMENTS = ("title", "creator", "subject", "contributor")
RESULT_CAP = SEARCH_RESULT_CAP
_YEAR = user_pattern(r"\b(\d{4})\b")
T = TypeVar("T")


def year_of(record: dict[str, Any]) -> int | None:
    for value in record.get("date", []):
        match = _YEAR.search(str(value))
        if match:
            return int(match.group(1))
    return None


def without_orcid(name: str) -> str:
    return split_orcid(name)[0]


def search_text(record: dict[str, Any]) -> str:
    words = [
        without_orcid(value) if element in ("creator", "contributor") else value
        for element in SEARCHED_ELEMENTS
        for value in record.get(element, [])
    ]
    year = year_of(record)
    if year:
        words.append(str(year))
    return " ".join(words).lower()


def index(session: Session, item: Item) -> None:
    """Fill the item's search columns from its record (at creation)."""
    item.year = year_of(item.record)
    item.search_text = search_text(item.record)
    if session.get_bind().dialect.name == "postgresql":
        vector = func.to_tsvector(TS_CONFIG, item.search_text)
        if item.year is not None:
            vector = func.setweight(vector, YEAR_WEIGHT, array([str(item.year)]))
        item.search_vector = vector


def _collections_in(set_spec: str) -> Select[tuple[str]]:
    """The ids of a collection and of the collections below it."""
    return select(Collection.id).where(
        or_(Collection.set_spec == set_spec, Collection.set_spec.like(set_spec + ":%"))
    )


def collection_scope(set_spec: str) -> ColumnElement[bool]:
    """Items in a collection and in the collections below it."""
    return Item.collection_id.in_(_collections_in(set_spec))


def _in_collections(session: Session, set_spec: str) -> ColumnElement[bool]:
    """collection_scope with the ids looked up first: a literal id lets the planner walk
    the (collection_id, created_at, id) index in page order instead of sorting them all."""
    ids = session.scalars(_collections_in(set_spec)).all()
    return Item.collection_id == ids[0] if len(ids) == 1 else Item.collection_id.in_(ids)


@dataclass(frozen=True)
class Search:
    """A query's conditions, and its ts_query on PostgreSQL (None: nothing to rank)."""

    conditions: list[ColumnElement[bool]]
    tsquery: ColumnElement[Any] | None


def criteria(
    session: Session, query: str | None, year: int | None = None, set_spec: str | None = None
) -> Search:
    """What a query and its filters select: items not withdrawn that match."""
    conditions: list[ColumnElement[bool]] = [Item.withdrawn_at.is_(None)]
    tsquery = None
    query = (query or "").strip()
    if query:
        if session.get_bind().dialect.name == "postgresql":
            tsquery = func.websearch_to_tsquery(TS_CONFIG, query)
            matched: ColumnElement[Any] = tsquery
            if year is not None:
                year_lexeme = func.to_tsquery(TS_CONFIG, f"{int(year)}:{YEAR_WEIGHT}")
                matched = tsquery.op("&&")(year_lexeme)
                year = None  # the year is in the words' query
            conditions.append(Item.search_vector.op("@@")(matched))
        else:
            for word in query.lower().split():
                excluded = word.startswith("-")
                word = word.strip('"+-')
                if word:
                    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    found = Item.search_text.like(f"%{escaped}%", escape="\\")
                    conditions.append(~found if excluded else found)
    if year is not None:
        conditions.append(Item.year == year)
    if set_spec is not None:
        conditions.append(_in_collections(session, set_spec))
    return Search(conditions, tsquery)


def tally(session: Session, search: Search) -> tuple[int, list[tuple[int, int]]]:
    """The matches counted up to RESULT_CAP + 1 (one more means "more"), and (year, count)
    over them, newest first: one read of at most that many rows."""
    capped = select(Item.year).where(and_(*search.conditions)).limit(RESULT_CAP + 1).subquery()
    rows = session.execute(select(capped.c.year, func.count()).group_by(capped.c.year)).all()
    counted = sorted(((year, n) for year, n in rows if year is not None), reverse=True)
    return sum(n for _, n in rows), counted


def page(session: Session, search: Search, ranked: bool, number: int, per_page: int) -> list[Item]:
    """Best match first when `ranked` (and there are words), else newest first; the id
    breaks ties, so pages neither repeat nor skip an item."""
    ordering: list[ColumnElement[Any]] = [Item.created_at.desc(), Item.id.desc()]
    if ranked and search.tsquery is not None:
        ordering.insert(0, func.ts_rank(Item.search_vector, search.tsquery).desc())
    statement = (
        select(Item)
        .where(and_(*search.conditions))
        .order_by(*ordering)
        .offset((number - 1) * per_page)
        .limit(per_page)
    )
    return list(session.scalars(statement).all())


def every_year(session: Session) -> list[int]:
    """The years items have, newest first: a loose index scan of ix_items_year (one probe
    a year) instead of a read of every item."""
    found = (
        select(func.max(Item.year).label("year")).where(Item.year.is_not(None)).cte(recursive=True)
    )
    found = found.union_all(
        select(select(func.max(Item.year)).where(Item.year < found.c.year).scalar_subquery()).where(
            found.c.year.is_not(None)
        )
    )
    return [year for year in session.scalars(select(found.c.year)) if year is not None]


Beside = Callable[[Session, Callable[[Session], T]], SideRead[T]]


def in_turn(session: Session, work: Callable[[Session], T]) -> SideRead[T]:
    """A read asked for beside the others, run after them on the same session."""
    return SideRead(lambda: work(session))


def results(
    session: Session,
    query: str | None,
    year: int | None,
    set_spec: str | None,
    number: int,
    per_page: int,
    beside: Beside[list[Item]] = in_turn,
) -> dict[str, Any]:
    """A page of results, the total (exact up to RESULT_CAP) and the years of the matches
    without the year filter for that filter: counted up to RESULT_CAP, above it every year
    items have, uncounted (count None).

    Newest first is the page of every search without words and of every one over
    RESULT_CAP, so that page is read beside the count (`beside`, a session of its own)
    before the count says which: the two reads of the index take the time of the slower.
    Words with at most RESULT_CAP matches are ranked instead, after the count, while the
    side read, not wanted, ends: it stops at the page's last match, the count only at
    the RESULT_CAP + 1st, so it costs at most about what the count does."""
    search = criteria(session, query, year, set_spec)
    newest = beside(session, lambda s: page(s, search, False, number, per_page))
    try:
        matches, counted = tally(session, search)
        unfiltered = matches  # more in the year means more without it: no second read
        if year is not None and matches <= RESULT_CAP:
            unfiltered, counted = tally(session, criteria(session, query, None, set_spec))
        if search.tsquery is not None and matches <= RESULT_CAP:
            items = page(session, search, True, number, per_page)
        else:
            items = newest.result()
    finally:
        newest.discard()  # nothing outlives the request, used or not
    return {
        "items": items,
        "total": min(matches, RESULT_CAP),
        "total_exact": matches <= RESULT_CAP,
        "years": counted if unfiltered <= RESULT_CAP else [(y, None) for y in every_year(session)],
    }
