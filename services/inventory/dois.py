"""DOIs at DataCite: reserved with the item, registered after it, kept in step with it.

When DataCite is on (`LODGE_DATACITE_*`), `reserve` mints the item's DOI in the item's own
transaction, so `item_created` and everything after it carries it, and records it as
`reserved`. Registration never blocks archiving: `request_sync` writes a
`doi_sync_requested` message to inventory itself in the same transaction (the outbox), and
its handler calls `sync`, which PUTs the item's current metadata to DataCite. A PUT is an
upsert, so the one path registers a new DOI, updates a changed item's metadata and hides a
withdrawn item's DOI (`event: hide`: it still resolves, to the tombstone, but DataCite
search no longer lists it). A failed call is recorded on the DOI's row and raised, so the
message retries through the handler's delay queues and then becomes a dead letter.

A work has a concept DOI too, for all its versions (a row of kind "concept"): reserved with
its version 1, or, for a work from before, the first time one of its versions is synced. It
resolves to the work's identifier (`/id/<concept identifier>`, the latest version not
withdrawn), carries that version's metadata and `HasVersion` each version, and is synced
with every change to any version.

Plain HTTP (requests), not the `datacite` package's REST client: each call here has one
deadline for the whole exchange and reads at most MAX_ANSWER bytes of DataCite's answer, so
a slow or garbage-spewing endpoint costs a bounded time and memory.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.contracts.events import new_event
from kernel.contracts.exceptions import NotFound
from kernel.platform.config import DataCiteSettings
from kernel.platform.db import Database, UnitOfWork
from kernel.policy.text import clean
from services.inventory import datacite, identifiers, versions
from services.inventory.models import CONCEPT, VERSION, DoiRegistration, Item
from services.inventory.schemas import item_view

log = logging.getLogger(__name__)

RESERVED, REGISTERED, FAILED = "reserved", "registered", "failed"
MAX_ANSWER = 1 << 20  # bytes of an answer read; DataCite's are a few KiB
MAX_ERROR = 500  # characters of a failure kept on the row and in the log
JSON_API = "application/vnd.api+json"


class DataCiteError(Exception):
    """DataCite did not take the metadata (refused it, failed, or could not be reached);
    the message is at most MAX_ERROR characters, whatever DataCite answered."""

    def __init__(self, message: str):
        super().__init__(message[:MAX_ERROR])


def reserve(session: Session, doi_prefix: str, item: Item) -> str:
    """Mint `item`'s DOI and record it as reserved; version 1 reserves its work's concept
    DOI too. Their registration is asked for with `request_sync`."""
    item.doi = identifiers.mint_doi(doi_prefix, item.id)
    session.flush()  # the item's row first: the DOI's row refers to it
    session.add(DoiRegistration(doi=item.doi, item_id=item.id, kind=VERSION, state=RESERVED))
    if item.version == 1:
        _reserve_concept(session, doi_prefix, item)
    return item.doi


def _reserve_concept(session: Session, doi_prefix: str, item: Item) -> DoiRegistration:
    """Record the concept DOI of `item`'s work, resolving to `item`: the prefix and 16 hex
    characters of the concept id, random like an item's id but never one, so never a
    version's DOI, and the same whenever it is minted again."""
    row = DoiRegistration(
        doi=identifiers.mint_doi(doi_prefix, item.concept_id),
        item_id=item.id,
        kind=CONCEPT,
        state=RESERVED,
    )
    session.add(row)
    session.flush()
    return row


def concept_registration(session: Session, concept_id: str) -> DoiRegistration | None:
    return session.scalar(
        select(DoiRegistration)
        .join(Item, Item.id == DoiRegistration.item_id)
        .where(DoiRegistration.kind == CONCEPT, Item.concept_id == concept_id)
    )


def request_sync(uow: UnitOfWork, *items: Item) -> None:
    """Ask for DataCite to be sent the current metadata of every DOI resolving to `items`
    and of their works' concept DOIs (once each), once this unit of work commits: after any
    change to an item's metadata, access or withdrawal, or a new version. A concept DOI is
    pointed again at its work's latest version not withdrawn. Nothing for no DOI."""
    session = uow.session
    wanted: dict[str, Item] = {}
    for item in items:
        for doi in session.scalars(  # autoflush: a DOI reserved in this unit of work too
            select(DoiRegistration.doi).where(
                DoiRegistration.item_id == item.id, DoiRegistration.kind == VERSION
            )
        ):
            wanted[doi] = item
        concept = concept_registration(session, item.concept_id)
        if concept is not None:
            concept.item_id = _latest(session, item).id
            wanted.setdefault(concept.doi, item)
    for doi, item in wanted.items():
        uow.emit(
            "doi_sync_requested",
            new_event(
                "inventory",
                "doi_sync_requested",
                deposit_id=item.deposit_id,
                revision=item.revision,
                item_id=item.id,
                doi=doi,
            ),
        )


def _latest(session: Session, item: Item) -> Item:
    latest = versions.resolve_work(session, item.concept_identifier)
    assert latest is not None  # item itself at least
    return latest


def adopt_work(uow: UnitOfWork, doi_prefix: str, item: Item) -> None:
    """Give `item`'s work, from before concept DOIs, its concept DOI, and ask for it and its
    versions' DOIs (which name the work by it now) to be synced."""
    session = uow.session
    if concept_registration(session, item.concept_id) is not None:
        return
    _reserve_concept(session, doi_prefix, _latest(session, item))
    work = session.scalars(select(Item).where(Item.concept_id == item.concept_id)).all()
    request_sync(uow, *work)


def registration(session: Session, doi: str) -> DoiRegistration:
    found = session.get(DoiRegistration, doi)
    if found is None:
        raise NotFound("Lodge has no such DOI.")
    return found


def registrations_of(session: Session, item_id: str) -> list[DoiRegistration]:
    """The item's own DOI, then its work's concept DOI (whichever version it resolves to)."""
    own = session.scalars(
        select(DoiRegistration)
        .where(DoiRegistration.item_id == item_id, DoiRegistration.kind == VERSION)
        .order_by(DoiRegistration.created_at)
    ).all()
    concept = concept_registration(session, session.get_one(Item, item_id).concept_id)
    return [*own, *([concept] if concept is not None else [])]


def registration_view(row: DoiRegistration) -> dict[str, Any]:
    return {
        "doi": row.doi,
        "item_id": row.item_id,
        "kind": row.kind,
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "registered_at": row.registered_at,
    }


def record_outcome(session: Session, doi: str, error: str | None) -> None:
    """One attempt's outcome on the DOI's row: registered, or failed with why."""
    row = registration(session, doi)
    now = datetime.now(UTC)
    row.attempts += 1
    row.updated_at = now
    if error is None:
        row.state, row.last_error, row.registered_at = REGISTERED, None, now
    else:
        row.state, row.last_error = FAILED, error


@dataclass(frozen=True)
class DataCite:
    """DataCite's REST API, as much of it as Lodge uses: PUT /dois/{doi}."""

    settings: DataCiteSettings

    def put(self, doi: str, attributes: dict[str, Any], event: str) -> None:
        """Create or update `doi` with `attributes`, then apply `event` (publish: findable;
        hide: registered, out of search). DataCiteError if it is not done."""
        body = {"data": {"id": doi, "type": "dois", "attributes": {**attributes, "event": event}}}
        url = f"{self.settings.api_url.rstrip('/')}/dois/{quote(doi, safe='/')}"
        deadline = time.monotonic() + self.settings.timeout
        try:
            with requests.put(
                url,
                data=json.dumps(body),
                headers={"Content-Type": JSON_API, "Accept": JSON_API},
                auth=(self.settings.username, self.settings.password),
                timeout=self.settings.timeout,
                stream=True,
                allow_redirects=False,
            ) as response:
                answer = _read(response, deadline)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            raise DataCiteError(f"DataCite could not be reached: {type(err).__name__}") from None
        if response.status_code not in (200, 201):
            raise DataCiteError(f"DataCite answered {response.status_code}: {_errors(answer)}")
        try:
            taken = json.loads(answer)["data"]["attributes"]["doi"]
        except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: deep nesting
            taken = None
        if not isinstance(taken, str) or taken.lower() != doi.lower():
            raise DataCiteError(
                f"DataCite answered {response.status_code} without the DOI: {_snippet(answer)}"
            )


def _read(response: requests.Response, deadline: float) -> bytes:
    """The answer's body, up to MAX_ANSWER bytes, read within the call's deadline."""
    chunks, size = [], 0
    # read1: what has arrived, so an answer dripped a byte at a time meets the deadline
    while chunk := response.raw.read1(64 * 1024, decode_content=True):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            raise DataCiteError(f"DataCite's answer is over {MAX_ANSWER} bytes")
        if time.monotonic() > deadline:
            raise DataCiteError("DataCite's answer did not arrive in time")
    return b"".join(chunks)


def _snippet(answer: bytes) -> str:
    text = clean(answer.decode("utf-8", errors="replace"))
    return " ".join(text.split())[:MAX_ERROR] or "(no body)"


def _errors(answer: bytes) -> str:
    """JSON:API errors as `title (source)`, or the start of whatever came back."""
    try:
        errors = json.loads(answer)["errors"]
        text = "; ".join(
            f"{error.get('title') or error.get('detail')}"
            + (f" ({error['source']})" if error.get("source") else "")
            for error in errors
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return _snippet(answer)
    return _snippet(text.encode())


def landing_page(base_url: str, item_id: str) -> str:
    return f"{base_url}/items/{item_id}"


def item_metadata(
    session: Session, item: Item, doi: str | None, base_url: str, publisher: str
) -> dict[str, Any]:
    """`item`'s DataCite attributes as `doi` (None: without a DOI) carries them, with its
    relations to the other versions of its work."""
    relations = versions.relations_by_item(session, [item]).get(item.id, [])
    view = {**item_view(item), "doi": doi, "relations": relations}
    return datacite.attributes(view, landing_page(base_url, item.id), publisher)


def concept_metadata(
    session: Session, latest: Item, doi: str, base_url: str, publisher: str
) -> dict[str, Any]:
    """A work's DataCite attributes as its concept DOI carries them: those of its `latest`
    version under the work's identifier, resolving to it, and HasVersion each version."""
    work = versions.versions_of(session, latest.concept_id)
    view = {
        **item_view(latest),
        "doi": doi,
        "identifier": latest.concept_identifier,
        "relations": versions.has_versions(work),
    }
    return datacite.attributes(view, f"{base_url}/id/{latest.concept_identifier}", publisher)


def target(session: Session, row: DoiRegistration) -> Item:
    """The item the DOI resolves to now: a concept DOI's is its work's latest version not
    withdrawn (the latest of all when every one is)."""
    item = session.get_one(Item, row.item_id)
    return _latest(session, item) if row.kind == CONCEPT else item


def metadata(session: Session, doi: str, base_url: str, publisher: str) -> dict[str, Any]:
    """The DataCite attributes `doi` is to carry now."""
    row = registration(session, doi)
    item = target(session, row)
    if row.kind == CONCEPT:
        return concept_metadata(session, item, doi, base_url, publisher)
    return item_metadata(session, item, doi, base_url, publisher)


def sync(database: Database, client: DataCite, doi: str, base_url: str, publisher: str) -> None:
    """Send DataCite the current metadata of the item `doi` resolves to and record the
    outcome; DataCiteError (once recorded) if DataCite did not take it. The call to DataCite
    is made outside any transaction. A version's work from before concept DOIs gets its
    concept DOI first (`adopt_work`), so the version names the work by it."""
    with database.reading() as session:
        row = registration(session, doi)
        orphan = row.kind == VERSION and (
            concept_registration(session, target(session, row).concept_id) is None
        )
    if orphan:  # two versions adopting at once mint the same DOI: one fails, and retries
        with database.unit_of_work() as uow:
            item = uow.session.get_one(Item, registration(uow.session, doi).item_id)
            adopt_work(uow, client.settings.prefix, item)
    with database.reading() as session:
        attributes = metadata(session, doi, base_url, publisher)
        withdrawn = target(session, registration(session, doi)).withdrawn_at
    try:
        client.put(doi, attributes, "hide" if withdrawn else "publish")
    except DataCiteError as err:
        with database.unit_of_work() as uow:
            record_outcome(uow.session, doi, str(err))
        log.warning("DOI %s not registered: %s", doi, err)
        raise
    with database.unit_of_work() as uow:
        record_outcome(uow.session, doi, None)
    log.info("DOI %s registered (%s)", doi, "hidden" if withdrawn else "findable")
