"""Versions of a work, free of nameko.

Every item is a version of a work (a concept): `concept_id` is shared by its versions,
`version` numbers them 1, 2, ... and `concept_identifier`, minted like an item's identifier
from the concept id, always resolves to the latest version not withdrawn. Relations between
versions use DataCite's relatedIdentifier vocabulary: a version IsNewVersionOf the one
before it, IsPreviousVersionOf the one after it, and IsVersionOf its work, by the work's
concept DOI when it has one (services/inventory/dois.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session, object_session

from kernel.contracts.exceptions import RefusedMessage
from services.inventory import identifiers
from services.inventory.models import CONCEPT, DoiRegistration, Item

# what a version list and the relations need of each version: no record, no files
_VERSION_COLUMNS = (
    Item.id,
    Item.identifier,
    Item.version,
    Item.doi,
    Item.created_at,
    Item.withdrawn_at,
    Item.concept_id,
)


def begin_work(item: Item, identifier_prefix: str) -> None:
    """Make the item version 1 of a new work."""
    item.concept_id = uuid.uuid4().hex
    item.concept_identifier = identifiers.mint(identifier_prefix, item.concept_id)
    item.version = 1


def continue_work(session: Session, item: Item, previous_id: str, now: datetime) -> Item:
    """Make the item the next version of the work `previous_id` belongs to. The latest
    version's relations change (it gains IsPreviousVersionOf), so its datestamp moves and
    incremental harvesters fetch it again. Two new versions archived at once would take the
    same number: the unique (concept_id, version) refuses the second, whose handling retries."""
    previous = session.get(Item, previous_id)
    if previous is None:
        raise RefusedMessage(f"the deposit is a new version of item {previous_id!r}, unknown here")
    latest = session.scalar(
        select(Item)
        .where(Item.concept_id == previous.concept_id)
        .order_by(Item.version.desc())
        .limit(1)
        .with_for_update()
    )
    assert latest is not None  # previous itself at least
    item.concept_id = previous.concept_id
    item.concept_identifier = previous.concept_identifier
    item.version = latest.version + 1
    latest.datestamp = now.replace(microsecond=0)
    return latest  # whose DOI's relations change too


def resolve_work(session: Session, concept_identifier: str) -> Item | None:
    """The latest version not withdrawn; the latest of all if every one is withdrawn (its
    tombstone), None if no work has this identifier."""
    versions = session.scalars(
        select(Item)
        .where(Item.concept_identifier == concept_identifier)
        .order_by(Item.version.desc())
    ).all()
    return next((v for v in versions if v.withdrawn_at is None), versions[0] if versions else None)


def _versions_of(session: Session, concept_ids: Iterable[str]) -> dict[str, list[Row[Any]]]:
    """Each work's versions, oldest first, in one query for a whole page of items; each
    row carries the concept DOI resolving to it, if one does (`concept_doi`)."""
    works: dict[str, list[Row[Any]]] = {}
    wanted = sorted(set(concept_ids))
    if not wanted:
        return works
    concept_doi = (
        select(DoiRegistration.doi)
        .where(DoiRegistration.item_id == Item.id, DoiRegistration.kind == CONCEPT)
        .limit(1)
        .scalar_subquery()
        .label("concept_doi")
    )
    rows = session.execute(
        select(*_VERSION_COLUMNS, concept_doi)
        .where(Item.concept_id.in_(wanted))
        .order_by(Item.concept_id, Item.version)
    ).all()
    for row in rows:
        works.setdefault(row.concept_id, []).append(row)
    return works


def concept_doi_of(work: Sequence[Row[Any]]) -> str | None:
    """The work's concept DOI, if it has one: its row resolves to one of the versions."""
    return next((row.concept_doi for row in work if row.concept_doi), None)


def related_identifier(identifier: str, doi: str | None) -> dict[str, str]:
    """The DOI where there is one, else the item's own identifier."""
    if doi:
        return {"identifier": doi, "identifier_type": "DOI"}
    return {"identifier": identifier, "identifier_type": identifiers.scheme(identifier)}


def relations(
    item_id: str, concept_identifier: str, versions: Sequence[Any], concept_doi: str | None = None
) -> list[dict]:
    """The item's relations to its neighbours in the work and to the work itself (by its
    concept DOI where it has one)."""
    place = next(i for i, version in enumerate(versions) if version.id == item_id)
    found = []
    if place > 0:
        before = versions[place - 1]
        found.append(
            {"relation_type": "IsNewVersionOf", **related_identifier(before.identifier, before.doi)}
        )
    if place + 1 < len(versions):
        after = versions[place + 1]
        found.append(
            {
                "relation_type": "IsPreviousVersionOf",
                **related_identifier(after.identifier, after.doi),
            }
        )
    found.append(
        {"relation_type": "IsVersionOf", **related_identifier(concept_identifier, concept_doi)}
    )
    return found


def has_versions(versions: Sequence[Any]) -> list[dict]:
    """The work's relations to each of its versions, oldest first: its concept DOI's."""
    return [
        {"relation_type": "HasVersion", **related_identifier(v.identifier, v.doi)} for v in versions
    ]


def relations_by_item(session: Session, items: Sequence[Item]) -> dict[str, list[dict]]:
    """The relations of a page of items (a harvest), with one query."""
    works = _versions_of(session, (item.concept_id for item in items))
    return {
        item.id: relations(
            item.id,
            item.concept_identifier,
            works[item.concept_id],
            concept_doi_of(works[item.concept_id]),
        )
        for item in items
    }


def versions_of(session: Session, concept_id: str) -> list[Row[Any]]:
    """One work's versions, oldest first."""
    return _versions_of(session, [concept_id])[concept_id]


def view(item: Item) -> dict[str, Any]:
    """The ItemView's fields about the work: its id and identifier, this version's number,
    every version (oldest first) and the relations."""
    session = object_session(item)
    assert session is not None
    versions = versions_of(session, item.concept_id)
    concept_doi = concept_doi_of(versions)
    return {
        "concept_id": item.concept_id,
        "concept_identifier": item.concept_identifier,
        "concept_doi": concept_doi,
        "version": item.version,
        "versions": [
            {
                "item_id": v.id,
                "identifier": v.identifier,
                "version": v.version,
                "doi": v.doi,
                "created_at": v.created_at,
                "withdrawn_at": v.withdrawn_at,
            }
            for v in versions
        ],
        "relations": relations(item.id, item.concept_identifier, versions, concept_doi),
    }
