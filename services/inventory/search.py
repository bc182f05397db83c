"""Finding items by title, creator, keyword and year.

PostgreSQL: a `tsvector` column, filled when the item is created and GIN-indexed,
matched with `websearch_to_tsquery` (quotes, `or`, `-word` work as people expect).
The `simple` configuration, without stemming, because a repository holds many
languages. SQLite: every word of the query must occur in the item's lower-cased text.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from kernel.policy.text import split_orcid, user_pattern
from services.inventory.models import Collection, Item

TS_CONFIG = "simple"
SEARCHED_ELEMENTS = ("title", "creator", "subject", "contributor")
_YEAR = user_pattern(r"\b(\d{4})\b")


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
        item.search_vector = func.to_tsvector(TS_CONFIG, item.search_text)


def collection_scope(set_spec: str) -> ColumnElement[bool]:
    """Items in a collection and in the collections below it."""
    return Item.collection_id.in_(
        select(Collection.id).where(
            or_(Collection.set_spec == set_spec, Collection.set_spec.like(set_spec + ":%"))
        )
    )


def matching(
    session: Session, query: str | None, year: int | None = None, set_spec: str | None = None
) -> Select[tuple[Item]]:
    """A select of items matching the query and filters, best match first."""
    statement = select(Item)
    conditions: list[ColumnElement[bool]] = []
    ordering = [Item.created_at.desc(), Item.id]
    query = (query or "").strip()
    if query:
        if session.get_bind().dialect.name == "postgresql":
            tsquery = func.websearch_to_tsquery(TS_CONFIG, query)
            conditions.append(Item.search_vector.op("@@")(tsquery))
            ordering.insert(0, func.ts_rank(Item.search_vector, tsquery).desc())
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
        conditions.append(collection_scope(set_spec))
    if conditions:
        statement = statement.where(and_(*conditions))
    return statement.order_by(*ordering)


def page(
    session: Session, statement: Select[tuple[Item]], number: int, per_page: int
) -> tuple[list[Item], int]:
    # count() always yields one row, so never None
    total = cast(
        int,
        session.scalar(
            select(func.count()).select_from(
                statement.order_by(None).with_only_columns(Item.id).subquery()
            )
        ),
    )
    items = session.scalars(statement.offset((number - 1) * per_page).limit(per_page)).all()
    return list(items), total


def years(session: Session, statement: Select[tuple[Item]]) -> list[tuple[int, int]]:
    """(year, count) over the matches, newest first: the page's year filter."""
    matches = statement.order_by(None).with_only_columns(Item.year).subquery()
    rows = session.execute(
        select(matches.c.year, func.count())
        .where(matches.c.year.is_not(None))
        .group_by(matches.c.year)
        .order_by(matches.c.year.desc())
    )
    return [(year, count) for year, count in rows]
