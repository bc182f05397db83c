"""Items made from approved deposits, free of nameko."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.contracts import resource_types
from kernel.contracts.actors import Actor
from kernel.contracts.events import new_event
from kernel.contracts.exceptions import Conflict, NotFound, RefusedMessage
from kernel.platform.db import UnitOfWork
from kernel.platform.metrics import ITEMS_CREATED
from kernel.platform.storage import Storage, StoredObject, check_key
from services.inventory import dois, fixity, identifiers, search, versions
from services.inventory.crosswalks import creators, dublin_core
from services.inventory.models import Collection, Item, ItemFile, Representation

DEMO_COLLECTIONS = (("theses", "Theses and dissertations"), ("open-works", "Open works"))


def check_staged(deposit: dict[str, Any]) -> None:
    """An approval makes inventory copy and then delete the storage keys it names, so it
    may name only the deposit's own staged files, `staging/<deposit id>/<name>`; a forged
    or mistaken one naming anything else is refused before anything is touched."""
    prefix = f"staging/{deposit['id']}/"
    for stored in deposit["files"]:
        key, name = stored["storage_key"], stored["storage_key"][len(prefix) :]
        try:
            inside = (
                key.startswith(prefix)
                and name
                and "/" not in name
                and "/" not in deposit["id"]
                and check_key(key)
            )
        except ValueError:
            inside = False
        if not inside:
            raise RefusedMessage(
                f"file {stored['id']!r} of deposit {deposit['id']!r} names "
                f"storage key {key!r}, outside the deposit's staging area"
            )


def permanent_key(deposit_id: str, file_id: str) -> str:
    """Deterministic, so a retried copy overwrites rather than leaves an orphan."""
    return f"permanent/{deposit_id}/{file_id}"


class FixityError(Exception):
    """A copy's checksum differs from what the depositor uploaded."""


def verify_copy(expected: dict[str, Any], copied: StoredObject) -> None:
    if copied.sha256 != expected["sha256"] or copied.size != expected["size"]:
        raise FixityError(
            f"copy of file {expected['id']} has sha256 {copied.sha256}, "
            f"expected {expected['sha256']}"
        )


def copy_to_permanent(storage: Storage, deposit_id: str, stored: dict[str, Any]) -> StoredObject:
    """Copy a staged file to permanent storage and verify the copy by reading it back
    from there, so what is checked is what was written, not what was sent."""
    storage.copy(stored["storage_key"], permanent_key(deposit_id, stored["id"]))
    copy = storage.digest(permanent_key(deposit_id, stored["id"]))
    verify_copy(stored, copy)
    return copy


def resource_type_of(profile: dict[str, Any]) -> str:
    """The profile's resource type; a deposit submitted before profiles named one is
    typed by the profile's name, as the migration typed the profiles."""
    return profile.get("resource_type") or resource_types.suggested([profile.get("name", "")])


def create_item(
    uow: UnitOfWork,
    identifier_prefix: str,
    deposit: dict[str, Any],
    decision: dict[str, Any],
    copies: dict[str, StoredObject],
    doi_prefix: str | None = None,
) -> Item | None:
    """Record the item for an approved deposit; None if it exists already. With a
    `doi_prefix` (DataCite on) the item gets its DOI at once, registered after."""
    session = uow.session
    if session.scalar(select(Item).where(Item.deposit_id == deposit["id"])) is not None:
        return None
    collection_id = deposit["profile"]["target_collection"]
    if session.get(Collection, collection_id) is None:
        raise NotFound(f"The target collection {collection_id!r} does not exist.")
    item_id = uuid.uuid4().hex
    form, metadata = deposit["profile"]["fields"], deposit["metadata"]
    record = dublin_core(form, metadata)
    now = datetime.now(UTC)
    item = Item(
        id=item_id,
        identifier=identifiers.mint(identifier_prefix, item_id),
        deposit_id=deposit["id"],
        revision=deposit["revision"],
        collection_id=collection_id,
        access=deposit["access"]["policy"],
        embargo_until=deposit["access"]["embargo_until"],
        record=record,
        resource_type=resource_type_of(deposit["profile"]),
        creators=creators(form, metadata),
        created_at=now,
        datestamp=now.replace(microsecond=0),
    )
    previous = None
    if deposit.get("new_version_of"):
        previous = versions.continue_work(session, item, deposit["new_version_of"], now)
    else:
        versions.begin_work(item, identifier_prefix)
    search.index(session, item)
    representation = Representation(id=uuid.uuid4().hex, usage="master", label="Deposited files")
    for stored in deposit["files"]:
        copy = copies[stored["id"]]
        item_file = ItemFile(
            id=stored["id"],
            filename=stored["filename"],
            storage_key=copy.key,
            size=copy.size,
            sha256=copy.sha256,
            md5=copy.md5,
            media_type=stored["media_type"],
            technical=stored.get("technical"),
        )
        fixity.record_event(
            item_file,
            fixity.REPLICATION,
            fixity.SUCCESS,
            f"copied from staging to {copy.key}; SHA-256 {copy.sha256} verified on the copy",
        )
        fixity.record_event(
            item_file, fixity.INGESTION, fixity.SUCCESS, f"ingested into item {item.identifier}"
        )
        representation.files.append(item_file)
    item.representations.append(representation)
    session.add(item)
    if doi_prefix:
        dois.reserve(session, doi_prefix, item)
    # the previous version gains IsPreviousVersionOf this one; the work's concept DOI, once
    dois.request_sync(uow, item, *([previous] if previous is not None else []))
    uow.after_commit(ITEMS_CREATED.labels(collection_id).inc)
    uow.emit(
        "item_created",
        new_event(
            "inventory",
            "item_created",
            deposit_id=deposit["id"],
            revision=deposit["revision"],
            item_id=item.id,
            identifier=item.identifier,
            collection=collection_id,
            decision=decision,
            doi=item.doi,
        ),
    )
    return item


def resolve(session: Session, identifier: str) -> Item:
    """An item's own identifier names that version; a work's names its latest version."""
    identifier = identifiers.normalise(identifier)
    item = session.scalar(select(Item).where(Item.identifier == identifier))
    if item is None:
        item = versions.resolve_work(session, identifier)
    if item is None:
        raise NotFound("No item has this identifier.")
    return item


def get_item(session: Session, item_id: str) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound("There is no such item.")
    return item


def get_item_file(session: Session, item_id: str, file_id: str) -> ItemFile:
    item = get_item(session, item_id)
    for representation in item.representations:
        for item_file in representation.files:
            if item_file.id == file_id:
                return item_file
    raise NotFound("The item has no such file.")


def withdraw_item(uow: UnitOfWork, actor: Actor, item_id: str, reason: str) -> Item:
    """Withdraw an item: it stays, as a tombstone and as a deleted OAI record; campus
    systems hear of it (`item_withdrawn`)."""
    item = get_item(uow.session, item_id)
    if item.withdrawn_at is not None:
        raise Conflict("The item is withdrawn already.")
    now = datetime.now(UTC)
    item.withdrawn_at, item.withdrawal_reason = now, reason
    item.datestamp = now.replace(microsecond=0)  # harvesters learn of it incrementally
    dois.request_sync(uow, item)  # its DOI goes on resolving, to the tombstone, but hidden
    uow.emit(
        "item_withdrawn",
        new_event(
            "inventory",
            "item_withdrawn",
            deposit_id=item.deposit_id,
            revision=item.revision,
            item_id=item.id,
            identifier=item.identifier,
            reason=reason,
            actor=actor.person_ref(),
        ),
    )
    return item


def list_collections(session: Session) -> Sequence[Collection]:
    return session.scalars(select(Collection).order_by(Collection.name)).all()


def seed_collections(session: Session) -> None:
    for collection_id, name in DEMO_COLLECTIONS:
        if session.get(Collection, collection_id) is None:
            session.add(Collection(id=collection_id, name=name, set_spec=collection_id))
