"""Items made from approved deposits, free of nameko."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from services.common.contracts import new_event
from services.common.db import UnitOfWork
from services.common.exceptions import NotFound
from services.common.storage import StoredObject
from services.inventory import fixity, identifiers, search
from services.inventory.models import Collection, Item, ItemFile, Representation

DEMO_COLLECTIONS = (("theses", "Theses and dissertations"), ("open-works", "Open works"))


def dublin_core(form: list[dict], metadata: dict) -> dict[str, list[str]]:
    """Map metadata to Dublin Core elements by the profile's field mapping."""
    record: dict[str, list[str]] = {}
    for field in form:
        element, value = field.get("dc"), metadata.get(field["key"])
        if not element or value in (None, "", [], {}):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):  # a person
                item = item["name"] + (f" (ORCID {item['orcid']})" if item.get("orcid") else "")
            record.setdefault(element, []).append(str(item))
    return record


def permanent_key(deposit_id: str, file_id: str) -> str:
    """Deterministic, so a retried copy overwrites rather than leaves an orphan."""
    return f"permanent/{deposit_id}/{file_id}"


class FixityError(Exception):
    """A copy's checksum differs from what the depositor uploaded."""


def verify_copy(expected: dict, copied: StoredObject) -> None:
    if copied.sha256 != expected["sha256"] or copied.size != expected["size"]:
        raise FixityError(f"copy of file {expected['id']} has sha256 {copied.sha256}, "
                          f"expected {expected['sha256']}")


def copy_to_permanent(storage, deposit_id: str, stored: dict) -> StoredObject:
    """Copy a staged file to permanent storage and verify the copy by reading it back
    from there, so what is checked is what was written, not what was sent."""
    storage.copy(stored["storage_key"], permanent_key(deposit_id, stored["id"]))
    copy = storage.digest(permanent_key(deposit_id, stored["id"]))
    verify_copy(stored, copy)
    return copy


def create_item(uow: UnitOfWork, identifier_prefix: str, deposit: dict, decision: dict,
                copies: dict[str, StoredObject]) -> Item | None:
    """Record the item for an approved deposit; None if it exists already."""
    session = uow.session
    if session.scalar(select(Item).where(Item.deposit_id == deposit["id"])) is not None:
        return None
    collection_id = deposit["profile"]["target_collection"]
    if session.get(Collection, collection_id) is None:
        raise NotFound(f"The target collection {collection_id!r} does not exist.")
    item_id = uuid.uuid4().hex
    record = dublin_core(deposit["profile"]["fields"], deposit["metadata"])
    record.setdefault("type", [deposit["profile"]["name"]])
    item = Item(id=item_id, identifier=identifiers.mint(identifier_prefix, item_id),
                deposit_id=deposit["id"], revision=deposit["revision"],
                collection_id=collection_id, access=deposit["access"]["policy"],
                embargo_until=deposit["access"]["embargo_until"], record=record,
                created_at=datetime.now(timezone.utc))
    search.index(session, item)
    representation = Representation(id=uuid.uuid4().hex, usage="master", label="Deposited files")
    for stored in deposit["files"]:
        copy = copies[stored["id"]]
        item_file = ItemFile(
            id=stored["id"], filename=stored["filename"], storage_key=copy.key, size=copy.size,
            sha256=copy.sha256, md5=copy.md5, media_type=stored["media_type"])
        fixity.record_event(item_file, fixity.REPLICATION, fixity.SUCCESS,
                            f"copied from staging to {copy.key}; SHA-256 {copy.sha256} "
                            "verified on the copy")
        fixity.record_event(item_file, fixity.INGESTION, fixity.SUCCESS,
                            f"ingested into item {item.identifier}")
        representation.files.append(item_file)
    item.representations.append(representation)
    session.add(item)
    uow.emit("item_created", new_event(
        "inventory", "item_created", deposit_id=deposit["id"], revision=deposit["revision"],
        item_id=item.id, identifier=item.identifier, collection=collection_id,
        decision=decision))
    return item


def resolve(session, identifier: str) -> Item:
    item = session.scalar(select(Item).where(Item.identifier == identifiers.normalise(identifier)))
    if item is None:
        raise NotFound("No item has this identifier.")
    return item


def get_item(session, item_id: str) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound("There is no such item.")
    return item


def get_item_file(session, item_id: str, file_id: str) -> ItemFile:
    item = get_item(session, item_id)
    for representation in item.representations:
        for item_file in representation.files:
            if item_file.id == file_id:
                return item_file
    raise NotFound("The item has no such file.")


def seed_collections(session) -> None:
    for collection_id, name in DEMO_COLLECTIONS:
        if session.get(Collection, collection_id) is None:
            session.add(Collection(id=collection_id, name=name, set_spec=collection_id))
