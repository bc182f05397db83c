"""What the sitemaps list: the landing pages of items not withdrawn, in parts.

Items are ordered by (datestamp, id), as OAI-PMH orders them, and cut into parts of
`part_size`. A part begins after the last key of the part before it, and that key is
found by a hop from the key before it (`OFFSET part_size - 1` from a keyset position,
never from the start of the table). Every hop and every part's rows are a range of the
partial index ix_items_public_datestamp_id, read from the index alone: the summary reads
the index once, and the deepest part (19 hops at 1,000,000 items) answers about as fast
as the first (bench/sitemaps.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from kernel.contracts.exceptions import NotFound
from services.inventory.models import Collection, Item

Key = tuple[datetime, str]


def _public(after: Key | None) -> Select[tuple[datetime, str]]:
    query = (
        select(Item.datestamp, Item.id)
        .where(Item.withdrawn_at.is_(None))
        .order_by(Item.datestamp, Item.id)
    )
    if after is not None:
        query = query.where(
            tuple_(Item.datestamp, Item.id) > tuple_(literal(after[0]), literal(after[1]))
        )
    return query


def _boundaries(session: Session, part_size: int) -> Iterator[Key]:
    """The last key of each full part, in order."""
    after: Key | None = None
    while True:
        row = session.execute(_public(after).offset(part_size - 1).limit(1)).first()
        if row is None:
            return
        after = (row[0], row[1])
        yield after


def state(session: Session) -> dict[str, Any]:
    """Two index lookups and the few collections: cheap at any number of items."""
    latest = [
        session.scalar(select(func.max(Item.datestamp))),
        session.scalar(select(func.max(Collection.created_at))),
    ]
    return {
        "last_modified": max((moment for moment in latest if moment is not None), default=None),
        "collection_ids": list(session.scalars(select(Collection.id).order_by(Collection.id))),
    }


def summary(session: Session, part_size: int) -> dict[str, Any]:
    """How many public items there are, and each part's size and latest datestamp."""
    keys = list(_boundaries(session, part_size))
    parts = [{"items": part_size, "lastmod": moment} for moment, _ in keys]
    rest = _public(keys[-1] if keys else None).limit(part_size).subquery()
    count, latest = session.execute(select(func.count(), func.max(rest.c.datestamp))).one()
    if count:
        parts.append({"items": count, "lastmod": latest})
    return {"items": sum(part["items"] for part in parts), "parts": parts}


def part(session: Session, number: int, part_size: int) -> dict[str, Any]:
    """The entries of part `number` (from 1); NotFound past the last."""
    before = list(islice(_boundaries(session, part_size), number - 1))
    if len(before) < number - 1:
        raise NotFound("There is no such sitemap.")
    rows = session.execute(_public(before[-1] if before else None).limit(part_size)).all()
    if not rows:
        raise NotFound("There is no such sitemap.")
    return {"item_ids": [item_id for _, item_id in rows], "datestamps": [m for m, _ in rows]}
