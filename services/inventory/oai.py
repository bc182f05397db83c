"""What OAI-PMH harvests, free of nameko and of the protocol's XML envelope (the gateway's).

Records are ordered by (datestamp, id) and paged by keyset: a page asks for the rows
after the last one the harvester saw, which the index ix_items_datestamp_id (or
ix_items_collection_datestamp_id with a set) answers in the same time at any depth.

A page is one query, whatever its length, when its records are kept rendered
(renderings.py): the items' header columns with their collections' set specs and their
kept renderings. Records not kept (new, changed, or never harvested in that format) cost
three more for the page: the items themselves, their files, and their works' versions and
concept DOIs (versions.relations_by_item).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session, defer

from kernel.contracts.exceptions import NotFound
from kernel.policy.text import clean_tree
from services.inventory import renderings, versions
from services.inventory.crosswalks import RENDERERS
from services.inventory.models import Collection, Item, ItemFile, ItemRendering, Representation
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


@functools.cache
def _selection(metadata_prefix: str | None) -> Select[Any]:
    """A page's rows: each item's header columns with its collection's set spec (not the
    item itself, whose record and search columns a kept rendering makes unneeded) and,
    for a format, what is kept of its rendering in it (renderings.py)."""
    query = select(
        Item.id,
        Item.identifier,
        Item.datestamp,
        Item.withdrawn_at,
        Item.collection_id,
        Collection.set_spec,
    ).outerjoin(Collection, Collection.id == Item.collection_id)
    if metadata_prefix is None:
        return query
    return query.add_columns(
        Item.serial,
        ItemRendering.serial.label("kept_serial"),
        ItemRendering.digest.label("kept_digest"),
        ItemRendering.expires_on.label("kept_expires_on"),
        ItemRendering.body.label("kept_body"),
    ).outerjoin(
        ItemRendering,
        (ItemRendering.item_id == Item.id) & (ItemRendering.metadata_prefix == metadata_prefix),
    )


def _metadata(
    session: Session,
    rows: Sequence[Row[Any]],
    metadata_prefix: str,
    base_url: str,
    repository_name: str,
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The metadata of a page's records not withdrawn, by item id: kept where it is still
    right, else rendered, with the renderings to keep."""
    today = date.today()
    wanted = renderings.digest(base_url, repository_name)
    found: dict[str, str] = {}
    stale = []
    for row in rows:
        if row.withdrawn_at is not None:
            continue
        if renderings.usable(row, wanted, today):
            found[row.id] = row.kept_body
        else:
            stale.append(row.id)
    fresh: list[dict[str, Any]] = []
    if not stale:
        return found, fresh
    # the serial is read with the row, before its files and work: a change meanwhile moves it
    items = session.scalars(
        select(Item)
        .where(Item.id.in_(stale))
        .options(defer(Item.search_text), defer(Item.search_vector))
    ).all()
    related = versions.relations_by_item(session, items)
    files = files_by_item(session, stale)
    render = RENDERERS[metadata_prefix]
    for item in items:
        body = render(
            crosswalk_input(
                item, base_url, repository_name, related[item.id], files.get(item.id, [])
            )
        )
        found[item.id] = body
        fresh.append(renderings.rendering(item, metadata_prefix, wanted, body, today))
    return found, fresh


def _records(
    session: Session,
    rows: Sequence[Row[Any]],
    metadata_prefix: str | None,
    base_url: str,
    repository_name: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A page's records, and the renderings made for it to keep."""
    metadata: dict[str, str] = {}
    fresh: list[dict[str, Any]] = []
    if metadata_prefix:  # headers need neither
        metadata, fresh = _metadata(session, rows, metadata_prefix, base_url, repository_name)
    records = [
        {
            "item_id": row.id,
            "identifier": row.identifier,
            "datestamp": row.datestamp,
            "sets": [row.set_spec or row.collection_id],
            "deleted": row.withdrawn_at is not None,
            "metadata": metadata.get(row.id),
        }
        for row in rows
    ]
    return records, fresh


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
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Up to `limit` records after the position (after_datestamp, after_id), and whether
    more follow; with the renderings to keep (renderings.keep). Headers only when
    metadata_prefix is None (ListIdentifiers)."""
    query = _selection(metadata_prefix).order_by(Item.datestamp, Item.id).limit(limit + 1)
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
    records, fresh = _records(session, rows[:limit], metadata_prefix, base_url, repository_name)
    return {"records": records, "more": len(rows) > limit}, fresh


def get_record(
    session: Session,
    identifier: str,
    metadata_prefix: str | None,
    base_url: str,
    repository_name: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One record, with its rendering to keep if it was made afresh."""
    rows = session.execute(_selection(metadata_prefix).where(Item.identifier == identifier)).all()
    if not rows:
        raise NotFound("There is no item with that identifier.")
    records, fresh = _records(session, rows, metadata_prefix, base_url, repository_name)
    return records[0], fresh


def earliest_datestamp(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Item.datestamp)))
