"""Preservation export: an item as a BagIt bag (RFC 8493), free of nameko.

A bag holds the item's files under `data/`, its metadata under `metadata/` (DataCite XML,
Dublin Core, PREMIS 3 events, the item as JSON), `bag-info.txt` with the version chain, and
SHA-256 and SHA-512 manifests of both. Files stream from storage into the bag, hashed as
they pass, and a file whose SHA-256 or size is not what inventory recorded fails the export:
a bag never carries a file that fails its fixity.

Names in a bag are made here, never taken as given: the bag's folder from the item's
identifier, each payload file from the depositor's file name reduced to letters, digits and
`_.-` (the original stays in PREMIS as originalName), so nothing escapes the bag.

A bag looks complete only once its tag manifests are written, and they go last: in a folder
the bag is written under a hidden temporary name and renamed into place; on S3 a re-export
first deletes the old tag manifests. A withdrawn item is exported as its tombstone: the
metadata, a deaccession event and `data/WITHDRAWN.txt` saying why, without its files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import Conflict, NotFound
from kernel.platform.config import StorageSettings
from kernel.platform.db import Database, insert_new
from kernel.platform.storage import S3Storage, Storage
from kernel.policy.text import clean, clean_tree, problem, user_pattern
from services.inventory import fixity, jobs, records
from services.inventory.crosswalks import datacite, oai_dc
from services.inventory.models import BagExport, Item
from services.inventory.oai import crosswalk_input, files_of
from services.inventory.schemas import item_view

ALGORITHMS = ("sha256", "sha512")
PREMIS = "http://www.loc.gov/premis/v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
EXPORT_JOB = "bag export"
# a run is at most a batch of items; a lock this old belongs to a process that died
STALE_LOCK = timedelta(hours=1)
MAX_NAME = 100
MAX_ID, MAX_IDENTIFIER = 32, 200  # Item's columns
_UNSAFE = user_pattern(r"[^A-Za-z0-9_.-]+")
log = logging.getLogger(__name__)
_TAG_MANIFESTS = tuple(f"tagmanifest-{algorithm}.txt" for algorithm in ALGORITHMS)


class BagError(Exception):
    """A file read for the bag differs from what inventory recorded."""


# --- names ------------------------------------------------------------------------------


def safe_name(name: str, fallback: str) -> str:
    """`name` as letters, digits and `_.-` only, never starting with a dot, at most
    MAX_NAME characters with its extension kept: a name that cannot leave its folder."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).lstrip("._-")
    if len(cleaned) > MAX_NAME:
        stem, dot, extension = cleaned.rpartition(".")
        extension = extension[:16] if dot and stem else ""
        cleaned = cleaned[: MAX_NAME - len(extension) - 1].rstrip("._-") + (
            f".{extension}" if extension else ""
        )
    return cleaned or fallback


def bag_name(identifier: str) -> str:
    """The bag's folder: the identifier made safe (`ark:/99999/x` → `ark_99999_x`)."""
    return safe_name(identifier, "item")


def payload_names(filenames: list[str]) -> list[str]:
    """A distinct safe name under `data/` for each file, in order."""
    taken: set[str] = set()
    names = []
    for filename in filenames:
        candidate = base = safe_name(filename, "file")
        number = 1
        while candidate.lower() in taken:
            number += 1
            stem, dot, extension = base.rpartition(".")
            candidate = f"{stem}-{number}.{extension}" if dot and stem else f"{base}-{number}"
        taken.add(candidate.lower())
        names.append(candidate)
    return names


# --- what goes in a bag -------------------------------------------------------------------


def snapshot(session: Session, item: Item, base_url: str, repository_name: str) -> dict[str, Any]:
    """Everything the bag needs from the database, read in one transaction; the files are
    streamed afterwards, outside it."""
    view = clean_tree(item_view(item))
    withdrawn = item.withdrawn_at is not None
    files = [f for r in item.representations for f in r.files]
    names = payload_names([f.filename for f in files])
    source = crosswalk_input(item, base_url, repository_name, view["relations"], files_of(item))
    return {
        "item_id": item.id,
        "identifier": item.identifier,
        "datestamp": item.datestamp,
        "view": view,
        "withdrawn": withdrawn,
        "repository_name": repository_name,
        "datacite": datacite(source),
        "dublin_core": oai_dc(source),
        "premis": premis(item, names),
        "files": []
        if withdrawn
        else [
            {"key": f.storage_key, "name": f"data/{name}", "size": f.size, "sha256": f.sha256}
            for f, name in zip(files, names, strict=True)
        ],
    }


def _element(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{PREMIS}}}{name}")
    if text is not None:
        element.text = clean(text)  # what was stored before the text rule held, too
    return element


def _identifier(parent: etree._Element, kind: str, scheme: str, value: str) -> None:
    container = _element(parent, f"{kind}Identifier")
    _element(container, f"{kind}IdentifierType", scheme)
    _element(container, f"{kind}IdentifierValue", value)


def _event(
    root: etree._Element,
    event_id: str,
    event_type: str,
    at: datetime,
    detail: str,
    outcome: str,
    agent: str,
    objects: list[tuple[str, str]],
) -> None:
    event = _element(root, "event")
    _identifier(event, "event", "local", event_id)
    _element(event, "eventType", event_type)
    _element(event, "eventDateTime", at.isoformat())
    if detail:
        _element(_element(event, "eventDetailInformation"), "eventDetail", detail)
    _element(_element(event, "eventOutcomeInformation"), "eventOutcome", outcome)
    _identifier(event, "linkingAgent", "local", agent)
    for scheme, value in objects:
        _identifier(event, "linkingObject", scheme, value)


def premis(item: Item, names: list[str]) -> str:
    """PREMIS 3: the item as an intellectual entity, each file as a file object (SHA-256,
    size, format, original name, where it sits in the bag), the files' events (ingestion,
    replication, fixity checks) and, for a withdrawn item, its deaccession."""
    root = etree.Element(f"{{{PREMIS}}}premis", nsmap={"premis": PREMIS, "xsi": XSI})
    root.set("version", "3.0")
    entity = _element(root, "object")
    entity.set(f"{{{XSI}}}type", "premis:intellectualEntity")
    _identifier(entity, "object", "local", item.identifier)
    if item.doi:
        _identifier(entity, "object", "DOI", item.doi)
    files = [f for r in item.representations for f in r.files]
    for item_file, name in zip(files, names, strict=True):
        obj = _element(root, "object")
        obj.set(f"{{{XSI}}}type", "premis:file")
        _identifier(obj, "object", "local", item_file.id)
        characteristics = _element(obj, "objectCharacteristics")
        _element(characteristics, "compositionLevel", "0")
        digest = _element(characteristics, "fixity")
        _element(digest, "messageDigestAlgorithm", "SHA-256")
        _element(digest, "messageDigest", item_file.sha256)
        _element(characteristics, "size", str(item_file.size))
        designation = _element(_element(characteristics, "format"), "formatDesignation")
        _element(designation, "formatName", item_file.media_type or "application/octet-stream")
        _element(obj, "originalName", item_file.filename)
        if item.withdrawn_at is None:
            location = _element(_element(obj, "storage"), "contentLocation")
            _element(location, "contentLocationType", "bag")
            _element(location, "contentLocationValue", f"data/{name}")
        relationship = _element(obj, "relationship")
        _element(relationship, "relationshipType", "structural")
        _element(relationship, "relationshipSubType", "is included in")
        related = _element(relationship, "relatedObjectIdentifier")
        _element(related, "relatedObjectIdentifierType", "local")
        _element(related, "relatedObjectIdentifierValue", item.identifier)
    for item_file in files:
        for event in item_file.events:
            _event(
                root,
                f"{item_file.id}-{event.id}",
                event.event_type,
                event.at,
                event.detail,
                event.outcome,
                event.agent,
                [("local", item_file.id)],
            )
    if item.withdrawn_at is not None:
        _event(
            root,
            f"{item.id}-withdrawal",
            "deaccession",
            item.withdrawn_at,
            item.withdrawal_reason or "",
            fixity.SUCCESS,
            fixity.AGENT,
            [("local", item.identifier)],
        )
    agent = _element(root, "agent")
    _identifier(agent, "agent", "local", fixity.AGENT)
    _element(agent, "agentName", fixity.AGENT)
    _element(agent, "agentType", "software")
    return etree.tostring(root, encoding="unicode")


def bag_info(snap: dict[str, Any], oxum: str, today: str) -> str:
    """bag-info.txt: who made the bag, what it holds, and the item's place in its versions
    (the optional ItemView fields `concept_identifier`, `version`, `versions`)."""
    view = snap["view"]
    title = (view["record"].get("title") or [""])[0]
    fields: list[tuple[str, str]] = [
        ("Source-Organization", snap["repository_name"]),
        ("External-Identifier", snap["identifier"]),
    ]
    if view.get("doi"):
        fields.append(("External-Identifier", f"doi:{view['doi']}"))
    if title:
        fields.append(("External-Description", title))
    fields += [("Bagging-Date", today), ("Payload-Oxum", oxum)]
    if view.get("concept_identifier"):
        fields.append(("Is-Version-Of", view["concept_identifier"]))
    if view.get("version") is not None:
        fields.append(("Version", str(view["version"])))
    for version in view.get("versions") or []:
        described = [f"version {version.get('version')}", str(version.get("identifier"))]
        if version.get("doi"):
            described.append(f"doi:{version['doi']}")
        if version.get("withdrawn_at"):
            described.append(f"withdrawn {version['withdrawn_at']}")
        fields.append(("Has-Version", " ".join(described)))
    if snap["withdrawn"]:
        fields.append(("Withdrawn", str(view["withdrawn_at"])))
    # a value is one line: a line break in a title must not start a forged field
    return "".join(f"{label}: {' '.join(value.split())}\n" for label, value in fields)


def _item_json(snap: dict[str, Any]) -> str:
    view = {key: value for key, value in snap["view"].items() if key != "representations"}
    return json.dumps(view, default=str, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _tombstone(snap: dict[str, Any]) -> str:
    view = snap["view"]
    reason = " ".join((view.get("withdrawal_reason") or "").split())
    return (
        f"{snap['identifier']} was withdrawn on {view['withdrawn_at']}.\n"
        f"Reason: {reason or 'none given'}\n"
        "Its files are not part of this bag; its metadata is.\n"
    )


# --- targets ------------------------------------------------------------------------------


class FolderTarget:
    """Bags as folders under `root`, written under a hidden name and renamed into place."""

    def __init__(self, root: Path):
        self.root = root

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[FolderWriter]:
        self.root.mkdir(parents=True, exist_ok=True)
        # the lock dies with its process: a killed export never blocks the next
        with open(self.root / f".{name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(f"The bag {name} is being written by another export.") from None
            for leftover in self.root.glob(f".{name}.*-*"):  # of a killed export
                shutil.rmtree(leftover, ignore_errors=True)
            yield FolderWriter(self.root, name)


class FolderWriter:
    def __init__(self, root: Path, name: str):
        self.root, self.name = root, name
        self.partial = root / f".{name}.partial-{uuid.uuid4().hex}"
        self.partial.mkdir()

    def write(self, name: str, chunks: Iterator[bytes]) -> None:
        target = self.partial / name
        if not target.resolve().is_relative_to(self.partial.resolve()):
            raise ValueError(f"not a name inside the bag: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())

    def commit(self) -> str:
        final = self.root / self.name
        old = self.root / f".{self.name}.old-{uuid.uuid4().hex}"
        if final.exists():
            os.replace(final, old)
        os.replace(self.partial, final)
        shutil.rmtree(old, ignore_errors=True)
        return str(final)

    def abort(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


class S3Target:
    """Bags as objects under `prefix/<name>/` in a bucket: a re-export deletes the old tag
    manifests first, so a bag half overwritten never looks complete."""

    def __init__(self, storage: S3Storage, prefix: str):
        self.storage, self.prefix = storage, prefix

    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[S3Writer]:
        yield S3Writer(self.storage, f"{self.prefix}/{name}")


class S3Writer:
    def __init__(self, storage: S3Storage, folder: str):
        self.storage, self.folder = storage, folder
        self.existing = set(self._keys())
        for tag_manifest in _TAG_MANIFESTS:
            self.storage.delete(f"{folder}/{tag_manifest}")
        self.written: set[str] = set()

    def _keys(self) -> Iterator[str]:
        pages = self.storage.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.storage.bucket, Prefix=f"{self.folder}/"
        )
        for page in pages:
            for found in page.get("Contents", []):
                yield found["Key"]

    def write(self, name: str, chunks: Iterator[bytes]) -> None:
        key = f"{self.folder}/{name}"
        self.storage.save(key, chunks)  # checks the key: nothing lands outside the folder
        self.written.add(key)

    def commit(self) -> str:
        return f"s3://{self.storage.bucket}/{self.folder}/"

    def abort(self) -> None:
        """Nothing to undo: without its tag manifests the bag does not look complete."""

    def drop_leftovers(self) -> None:
        """Delete what an earlier export wrote and this one did not (a withdrawn item's
        files), before the tag manifests make the bag look complete."""
        for key in self.existing - self.written - {f"{self.folder}/{t}" for t in _TAG_MANIFESTS}:
            self.storage.delete(key)


def target_for(target: str, settings: StorageSettings) -> FolderTarget | S3Target:
    """The target LODGE_BAG_TARGET (or `--to`) names: a folder, or `s3://bucket/prefix` on
    the S3 endpoint of the storage settings, whatever backend holds the files."""
    if not target.startswith("s3://"):
        return FolderTarget(Path(target))
    bucket, _, prefix = target[len("s3://") :].partition("/")
    return S3Target(
        S3Storage(bucket, settings.s3_endpoint_url, settings.s3_region, settings.s3_part_size),
        prefix,
    )


# --- writing a bag ------------------------------------------------------------------------


def _hashed(chunks: Iterator[bytes], digests: dict[str, Any], sizes: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        for digest in digests.values():
            digest.update(chunk)
        sizes[0] += len(chunk)
        yield chunk


def _manifest(entries: list[tuple[str, dict[str, str]]], algorithm: str) -> bytes:
    return "".join(f"{hashes[algorithm]}  {name}\n" for name, hashes in entries).encode()


def write_bag(
    storage: Storage, target: FolderTarget | S3Target, snap: dict[str, Any], today: str
) -> dict[str, str]:
    """Write the bag; its location and Payload-Oxum. BagError if a file fails its fixity."""
    name = bag_name(snap["identifier"])
    with target.writer(name) as writer:
        try:
            location, oxum = _write(storage, writer, snap, today)
        except BaseException:
            writer.abort()
            raise
    return {"location": location, "payload_oxum": oxum}


def _write(
    storage: Storage, writer: FolderWriter | S3Writer, snap: dict[str, Any], today: str
) -> tuple[str, str]:
    def put(name: str, chunks: Iterator[bytes]) -> tuple[dict[str, str], int]:
        digests = {algorithm: hashlib.new(algorithm) for algorithm in ALGORITHMS}
        size = [0]
        writer.write(name, _hashed(chunks, digests, size))
        return {a: d.hexdigest() for a, d in digests.items()}, size[0]

    payload: list[tuple[str, dict[str, str]]] = []
    total = 0
    for stored in snap["files"]:
        hashes, size = put(stored["name"], storage.read(stored["key"]))
        if hashes["sha256"] != stored["sha256"] or size != stored["size"]:
            raise BagError(
                f"{stored['name']} reads as SHA-256 {hashes['sha256']} ({size} bytes), "
                f"expected {stored['sha256']} ({stored['size']} bytes)"
            )
        payload.append((stored["name"], hashes))
        total += size
    if snap["withdrawn"]:
        hashes, size = put("data/WITHDRAWN.txt", iter([_tombstone(snap).encode()]))
        payload.append(("data/WITHDRAWN.txt", hashes))
        total += size
    oxum = f"{total}.{len(payload)}"
    tags: list[tuple[str, dict[str, str]]] = []
    for tag_name, text in (
        ("bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
        ("bag-info.txt", bag_info(snap, oxum, today)),
        ("metadata/datacite.xml", snap["datacite"]),
        ("metadata/dublin-core.xml", snap["dublin_core"]),
        ("metadata/premis.xml", snap["premis"]),
        ("metadata/item.json", _item_json(snap)),
    ):
        tags.append((tag_name, put(tag_name, iter([text.encode()]))[0]))
    for algorithm in ALGORITHMS:
        manifest = f"manifest-{algorithm}.txt"
        tags.append((manifest, put(manifest, iter([_manifest(payload, algorithm)]))[0]))
    if isinstance(writer, S3Writer):
        writer.drop_leftovers()
    for algorithm in ALGORITHMS:  # last: with these the bag looks complete
        put(f"tagmanifest-{algorithm}.txt", iter([_manifest(tags, algorithm)]))
    return writer.commit(), oxum


# --- which items, and the record of each export --------------------------------------------


def find_item(session: Session, item: str) -> str:
    """The id of the item `item` names, by its id or its identifier; NotFound if none."""
    if problem(item) or len(item) > MAX_IDENTIFIER:  # no database holds such a value
        raise NotFound("No item has this id or identifier.")
    found = session.get(Item, item) if len(item) <= MAX_ID else None
    return found.id if found is not None else records.resolve(session, item).id


def export_item(
    database: Database,
    storage: Storage,
    target: FolderTarget | S3Target,
    item_id: str,
    base_url: str,
    repository_name: str,
) -> dict[str, Any]:
    """Export one item and record it; its BagExportView. The database is read before and
    written after the files stream, never held open while they do."""
    attempted = datetime.now(UTC)
    with database.reading() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise LookupError(item_id)
        snap = snapshot(session, item, base_url, repository_name)
    # datestamps are whole seconds: a change later in the second the item was read in
    # would not move it, so such a bag counts as of the second before (one export more)
    if snap["datestamp"] >= attempted.replace(microsecond=0):
        snap["datestamp"] -= timedelta(seconds=1)
    try:
        written = write_bag(storage, target, snap, attempted.date().isoformat())
    except Exception as err:
        _record(database, item_id, attempted, error=str(err) or type(err).__name__)
        raise
    return _record(database, item_id, attempted, snap["datestamp"], **written)


def _record(
    database: Database,
    item_id: str,
    attempted: datetime,
    datestamp: datetime | None = None,
    location: str | None = None,
    payload_oxum: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    with database.unit_of_work() as uow:
        insert_new(uow.session, BagExport, item_id=item_id)
        export = uow.session.get(BagExport, item_id, populate_existing=True)
        assert export is not None  # inserted just now if it was not there
        export.attempted_at = attempted
        export.error = error
        if error is None:
            export.exported_at = datetime.now(UTC)
            export.item_datestamp = datestamp
            export.location = location
            export.payload_oxum = payload_oxum
        # a request made while this export ran asks for one more
        if export.requested_at is not None and export.requested_at <= attempted:
            export.requested_at = export.requested_by = None
        return status_view(export)


def status_view(export: BagExport | None) -> dict[str, Any]:
    if export is None:
        return dict.fromkeys(
            (
                "exported_at",
                "location",
                "payload_oxum",
                "requested_at",
                "requested_by",
                "error",
                "attempted_at",
            )
        )
    return {
        "exported_at": export.exported_at,
        "location": export.location,
        "payload_oxum": export.payload_oxum,
        "requested_at": export.requested_at,
        "requested_by": export.requested_by,
        "error": export.error,
        "attempted_at": export.attempted_at,
    }


def status(session: Session, item_id: str) -> dict[str, Any]:
    return status_view(session.get(BagExport, item_id))


def request(session: Session, actor: Actor, item_id: str) -> dict[str, Any]:
    """Ask for an export at the next run of the bag export."""
    insert_new(session, BagExport, item_id=item_id)
    export = session.get(BagExport, item_id, populate_existing=True)
    assert export is not None
    if export.requested_at is None:
        export.requested_at = datetime.now(UTC)
        export.requested_by = actor.name or actor.id
    return status_view(export)


def due(session: Session, batch_size: int, scheduled: bool) -> list[str]:
    """Items to export next: those staff asked for, then (when scheduled) those never
    exported or changed since; failures that were tried longest ago go first, so one
    item that keeps failing never holds up the rest."""
    wanted: list[ColumnElement[bool]] = [BagExport.requested_at.is_not(None)]
    if scheduled:
        wanted += [
            BagExport.item_id.is_(None),
            BagExport.exported_at.is_(None),
            Item.datestamp > BagExport.item_datestamp,
        ]
    return list(
        session.scalars(
            select(Item.id)
            .outerjoin(BagExport, BagExport.item_id == Item.id)
            .where(or_(*wanted))
            .order_by(
                BagExport.requested_at.is_(None),
                BagExport.attempted_at.asc().nulls_first(),
                Item.datestamp,
                Item.id,
            )
            .limit(batch_size)
        )
    )


def run(
    database: Database,
    storage: Storage,
    target: FolderTarget | S3Target,
    batch_size: int,
    scheduled: bool,
    base_url: str,
    repository_name: str,
) -> dict[str, int]:
    """One batch, one item at a time, one run at a time in all inventory processes (a
    `running_jobs` row is the lock, renewed after each item, so a lock untouched for
    STALE_LOCK belongs to a process that died); Conflict while another runs. Each item is
    recorded as it is done, so a run cut short resumes where it stopped."""
    held = jobs.take(database, EXPORT_JOB, STALE_LOCK)
    if held is None:
        raise Conflict("A bag export is running already.")
    outcome = {"exported": 0, "failed": 0}
    try:
        with database.reading() as session:
            batch = due(session, batch_size, scheduled)
        for item_id in batch:
            try:
                export_item(database, storage, target, item_id, base_url, repository_name)
            except Exception:  # recorded on the item; the rest of the batch goes on
                log.exception("bag export of item %s failed", item_id)
                outcome["failed"] += 1
            else:
                outcome["exported"] += 1
            renewed = jobs.renew(database, EXPORT_JOB, held)
            if renewed is None:  # taken over as stale: that run goes on, this one stops
                break
            held = renewed
    finally:
        jobs.give_back(database, EXPORT_JOB, held)
    return outcome
