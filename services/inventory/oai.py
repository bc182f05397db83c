"""What OAI-PMH harvests, free of nameko and of the protocol's XML envelope (the gateway's).

Records are ordered by (datestamp, id) and paged by keyset: a page asks for the rows
after the last one the harvester saw, which the index ix_items_datestamp_id (or
ix_items_collection_datestamp_id with a set) answers in the same time at any depth.

A page costs three queries, whatever its length: the items with their collections' set
specs (without the search columns, which a record never shows), their files, and their
works' versions and concept DOIs (versions.relations_by_item).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session, defer

from kernel.contracts.exceptions import NotFound
from kernel.policy.text import clean_tree
from services.inventory import versions
from services.inventory.crosswalks import RENDERERS
from services.inventory.models import Collection, Item, ItemFile, Representation
from services.inventory.search import collection_scope


def files_of(item: Item) -> list[tuple[str, str]]:
    """An item's files as the crosswalks want them, (id, media type), from its loaded
    representations."""
    return [(f.id, f.media_type) for r in item.representations for f in r.files]


def files_by_item(session: Session, item_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """The files of a page of items, in one query, in the order `files_of` gives them."""
    found: dict[str, list[tuple[str, str]]] = {}
    if not item_ids:
        return found
    rows = session.execute(
        select(Representation.item_id, ItemFile.id, ItemFile.media_type)
        .join(ItemFile, ItemFile.representation_id == Representation.id)
        .where(Representation.item_id.in_(item_ids))
        .order_by(Representation.item_id, Representation.id, ItemFile.filename)
    ).tuples()
    for item_id, file_id, media_type in rows:
        found.setdefault(item_id, []).append((file_id, media_type))
    return found


def crosswalk_input(
    item: Item,
    base_url: str,
    repository_name: str,
    relations: list[dict[str, str]],
    files: list[tuple[str, str]],
) -> dict[str, Any]:
    """What the crosswalks render from; `files` are the item's (id, media type). The record
    is cleaned as it is serialised: one stored before the text rule held never breaks a page."""
    return {
        "identifier": item.identifier,
        "record": clean_tree(item.record),
        "creators": clean_tree(item.creators),
        "resource_type": item.resource_type,
        "landing_url": f"{base_url}/id/{item.identifier}",
        "repository_name": repository_name,
        "created_at": item.created_at.isoformat(),
        "formats": [media_type for _, media_type in files],
        "relations": relations,  # to the other versions of its work (versions.py)
        "resolver": f"{base_url}/id/",
        # for oai_openaire: access rights, dates and each file's download address
        "access": item.access,
        "embargo_until": item.embargo_until.isoformat() if item.embargo_until else None,
        "doi": item.doi,
        "files": [
            {"url": f"{base_url}/api/v1/items/{item.id}/files/{file_id}", "media_type": media_type}
            for file_id, media_type in files
        ],
    }


def oai_record(
    item: Item,
    set_spec: str | None,
    metadata_prefix: str | None,
    base_url: str,
    repository_name: str,
    relations: list[dict[str, str]],
    files: list[tuple[str, str]],
) -> dict[str, Any]:
    deleted = item.withdrawn_at is not None
    metadata = None
    if metadata_prefix and not deleted:
        metadata = RENDERERS[metadata_prefix](
            crosswalk_input(item, base_url, repository_name, relations, files)
        )
    return {
        "item_id": item.id,
        "identifier": item.identifier,
        "datestamp": item.datestamp,
        "sets": [set_spec or item.collection_id],
        "deleted": deleted,
        "metadata": metadata,
    }


def _items_with_set_specs() -> Select[tuple[Item, str | None]]:
    """Items with their collections' set specs, without the search columns."""
    return (
        select(Item, Collection.set_spec)
        .outerjoin(Collection, Collection.id == Item.collection_id)
        .options(defer(Item.search_text), defer(Item.search_vector))
    )


def _records(
    session: Session,
    rows: Sequence[Row[tuple[Item, str | None]]],
    metadata_prefix: str | None,
    base_url: str,
    repository_name: str,
) -> list[dict[str, Any]]:
    items = [item for item, _ in rows]
    related, files = {}, {}
    if metadata_prefix:  # headers need neither
        related = versions.relations_by_item(session, items)
        files = files_by_item(session, [item.id for item in items])
    return [
        oai_record(
            item,
            set_spec,
            metadata_prefix,
            base_url,
            repository_name,
            related.get(item.id, []),
            files.get(item.id, []),
        )
        for item, set_spec in rows
    ]


def harvest(
    session: Session,
    *,
    metadata_prefix: str | None,
    since: datetime | None,
    until: datetime | None,
    set_spec: str | None,
    after_datestamp: datetime | None,
    after_id: str | None,
    limit: int,
    base_url: str,
    repository_name: str,
) -> dict[str, Any]:
    """Up to `limit` records after the position (after_datestamp, after_id), and whether
    more follow. Headers only when metadata_prefix is None (ListIdentifiers)."""
    query = _items_with_set_specs().order_by(Item.datestamp, Item.id).limit(limit + 1)
    if set_spec is not None:
        query = query.where(collection_scope(set_spec))  # the set and the sets below it
    if since is not None:
        query = query.where(Item.datestamp >= since)
    if until is not None:
        query = query.where(Item.datestamp <= until)
    if after_datestamp is not None and after_id is not None:
        query = query.where(
            tuple_(Item.datestamp, Item.id) > tuple_(literal(after_datestamp), literal(after_id))
        )
    rows = session.execute(query).all()
    return {
        "records": _records(session, rows[:limit], metadata_prefix, base_url, repository_name),
        "more": len(rows) > limit,
    }


def get_record(
    session: Session,
    identifier: str,
    metadata_prefix: str | None,
    base_url: str,
    repository_name: str,
) -> dict[str, Any]:
    rows = session.execute(_items_with_set_specs().where(Item.identifier == identifier)).all()
    if not rows:
        raise NotFound("There is no item with that identifier.")
    return _records(session, rows, metadata_prefix, base_url, repository_name)[0]


def earliest_datestamp(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Item.datestamp)))
