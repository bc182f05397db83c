"""The tree of collections: managed by repository managers; each collection is an OAI set.

A collection's `set_spec` is the ids from the root down, colon-joined (`theses:phd`);
moving a collection rewrites its own and its descendants' set specs in the same
transaction. A collection is deleted only when it holds no items and no collections.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import Conflict, InvalidInput, NotFound
from kernel.policy.permissions import Action, require
from services.inventory import search
from services.inventory.models import Collection, Item


def get(session: Session, collection_id: str) -> Collection:
    collection = session.get(Collection, collection_id)
    if collection is None:
        raise NotFound("There is no such collection.")
    return collection


def all_collections(session: Session) -> list[Collection]:
    return list(session.scalars(select(Collection).order_by(Collection.set_spec, Collection.name)))


def item_counts(session: Session) -> dict[str, int]:
    """Items held directly in each collection, counted up to RESULT_CAP + 1 (one
    more means "more than"): counting a collection of a million costs a read of them all."""
    held = (
        select(literal_column("1"))
        .where(Item.collection_id == Collection.id)
        .limit(search.RESULT_CAP + 1)
        .correlate(Collection)
        .subquery()
    )
    counted = select(func.count()).select_from(held).scalar_subquery()
    return {
        collection_id: count
        for collection_id, count in session.execute(select(Collection.id, counted))
        if count
    }


def set_spec_of(session: Session, parent_id: str | None, collection_id: str) -> str:
    if parent_id is None:
        return collection_id
    return f"{get(session, parent_id).set_spec}:{collection_id}"


def save(
    session: Session,
    actor: Actor,
    collection_id: str,
    name: str,
    description: str,
    parent_id: str | None,
    create: bool,
) -> Collection:
    """Create a collection, or rename, describe and move one."""
    require(actor, Action.MANAGE_COLLECTIONS)
    existing = session.get(Collection, collection_id)
    if create and existing is not None:
        raise Conflict(
            "A collection with this id exists already.", fields={"id": ["already taken"]}
        )
    if not create and existing is None:
        raise NotFound("There is no such collection.")
    if parent_id is not None and session.get(Collection, parent_id) is None:
        raise InvalidInput(
            "The parent collection does not exist.", fields={"parent_id": ["no such collection"]}
        )
    if create:
        collection = Collection(
            id=collection_id,
            name=name,
            description=description,
            parent_id=parent_id,
            set_spec=set_spec_of(session, parent_id, collection_id),
        )
        session.add(collection)
        return collection
    # not None: a missing collection was refused above unless creating
    collection = cast(Collection, existing)
    collection.name, collection.description = name, description
    if parent_id != collection.parent_id:
        _move(session, collection, parent_id)
    return collection


def _move(session: Session, collection: Collection, parent_id: str | None) -> None:
    old = collection.set_spec or ""
    if parent_id is not None:
        parent_spec = get(session, parent_id).set_spec or ""
        if parent_spec == old or parent_spec.startswith(old + ":"):
            raise InvalidInput(
                "A collection cannot move into itself or below itself.",
                fields={"parent_id": ["inside the collection being moved"]},
            )
    new = set_spec_of(session, parent_id, collection.id)
    collection.parent_id, collection.set_spec = parent_id, new
    for descendant in session.scalars(
        select(Collection).where(Collection.set_spec.like(old + ":%"))
    ):
        descendant.set_spec = new + (descendant.set_spec or "")[len(old) :]


def delete(session: Session, actor: Actor, collection_id: str) -> None:
    require(actor, Action.MANAGE_COLLECTIONS)
    collection = get(session, collection_id)
    if session.scalar(select(Item.id).where(Item.collection_id == collection_id).limit(1)):
        raise Conflict("The collection holds items; move or withdraw them first.")
    if session.scalar(select(Collection.id).where(Collection.parent_id == collection_id).limit(1)):
        raise Conflict("The collection holds other collections; move or delete them first.")
    session.delete(collection)


def ancestors(session: Session, collection: Collection) -> list[Collection]:
    """From the root down to the collection's parent: the page's breadcrumbs."""
    ids = (collection.set_spec or "").split(":")[:-1]
    found = {c.id: c for c in session.scalars(select(Collection).where(Collection.id.in_(ids)))}
    return [found[i] for i in ids if i in found]
