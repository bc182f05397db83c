"""What OAI-PMH harvests, free of nameko and of the protocol's XML envelope (the gateway's).

Records are ordered by (datestamp, id) and paged by keyset: a page asks for the rows
after the last one the harvester saw, which the index ix_items_datestamp_id (or
ix_items_collection_datestamp_id with a set) answers in the same time at any depth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.orm import Session, selectinload

from kernel.contracts.exceptions import NotFound
from kernel.policy.text import clean_tree
from services.inventory import versions
from services.inventory.crosswalks import RENDERERS
from services.inventory.models import Collection, Item, Representation
from services.inventory.search import collection_scope


def set_specs_by_collection(session: Session) -> dict[str, str | None]:
    """Each collection's setSpec: its path from the root (`parent:child`), as OAI-PMH's set
    hierarchy has it. Collections are few, so a page reads them all once."""
    return dict(session.execute(select(Collection.id, Collection.set_spec)).tuples().all())


def crosswalk_input(
    item: Item, base_url: str, repository_name: str, relations: list[dict[str, str]]
) -> dict[str, Any]:
    """What the crosswalks render from; files are loaded already (selectinload). The record
    is cleaned as it is serialised: one stored before the text rule held never breaks a page."""
    return {
        "identifier": item.identifier,
        "record": clean_tree(item.record),
        "creators": clean_tree(item.creators),
        "resource_type": item.resource_type,
        "landing_url": f"{base_url}/id/{item.identifier}",
        "repository_name": repository_name,
        "created_at": item.created_at.isoformat(),
        "formats": [f.media_type for r in item.representations for f in r.files],
        "relations": relations,  # to the other versions of its work (versions.py)
        "resolver": f"{base_url}/id/",
        # for oai_openaire: access rights, dates and each file's download address
        "access": item.access,
        "embargo_until": item.embargo_until.isoformat() if item.embargo_until else None,
        "doi": item.doi,
        "files": [
            {
                "url": f"{base_url}/api/v1/items/{item.id}/files/{f.id}",
                "media_type": f.media_type,
            }
            for r in item.representations
            for f in r.files
        ],
    }


def oai_record(
    item: Item,
    metadata_prefix: str | None,
    base_url: str,
    repository_name: str,
    set_specs: dict[str, str | None],
    relations: list[dict[str, str]],
) -> dict[str, Any]:
    deleted = item.withdrawn_at is not None
    metadata = None
    if metadata_prefix and not deleted:
        metadata = RENDERERS[metadata_prefix](
            crosswalk_input(item, base_url, repository_name, relations)
        )
    return {
        "item_id": item.id,
        "identifier": item.identifier,
        "datestamp": item.datestamp,
        "sets": [set_specs.get(item.collection_id, item.collection_id)],
        "deleted": deleted,
        "metadata": metadata,
    }


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
    query = select(Item).order_by(Item.datestamp, Item.id).limit(limit + 1)
    if metadata_prefix:
        query = query.options(selectinload(Item.representations).selectinload(Representation.files))
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
    items = session.scalars(query).all()
    set_specs = set_specs_by_collection(session)
    related = versions.relations_by_item(session, items[:limit]) if metadata_prefix else {}
    return {
        "records": [
            oai_record(
                item,
                metadata_prefix,
                base_url,
                repository_name,
                set_specs,
                related.get(item.id, []),
            )
            for item in items[:limit]
        ],
        "more": len(items) > limit,
    }


def get_record(
    session: Session,
    identifier: str,
    metadata_prefix: str | None,
    base_url: str,
    repository_name: str,
) -> dict[str, Any]:
    item = session.scalar(select(Item).where(Item.identifier == identifier))
    if item is None:
        raise NotFound("There is no item with that identifier.")
    related = versions.relations_by_item(session, [item]) if metadata_prefix else {}
    return oai_record(
        item,
        metadata_prefix,
        base_url,
        repository_name,
        set_specs_by_collection(session),
        related.get(item.id, []),
    )


def earliest_datestamp(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Item.datestamp)))
