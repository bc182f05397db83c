"""Fixity: re-hashing permanent files, and each file's PREMIS-style event log.

The audit takes the files checked longest ago (never-checked first), hashes each
outside any transaction (hashing a large file must not hold a database lock), and then
records the outcome. A mismatch or a missing file marks the file `failed`, logs a
`fixity check` event with outcome `failure` and emits `fixity_failed`.

One audit runs at a time in all inventory processes together (the timer's and a staff
member's): the `running_jobs` row is the lock. A lock older than STALE_LOCK is taken to
belong to a process that died mid-audit, and is taken over.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel.contracts.events import new_event
from kernel.contracts.exceptions import Conflict
from kernel.platform.db import Database, UnitOfWork
from kernel.platform.storage import Storage
from services.inventory import jobs
from services.inventory.models import (
    FileEvent,
    Item,
    ItemFile,
    Representation,
)

INGESTION, REPLICATION, FIXITY_CHECK = "ingestion", "replication", "fixity check"
SUCCESS, FAILURE = "success", "failure"
AGENT = "Lodge inventory"
AUDIT_JOB = "fixity audit"
STALE_LOCK = timedelta(hours=6)


def record_event(
    item_file: ItemFile, event_type: str, outcome: str, detail: str, at: datetime | None = None
) -> None:
    item_file.events.append(
        FileEvent(
            event_type=event_type,
            outcome=outcome,
            detail=detail,
            agent=AGENT,
            at=at or datetime.now(UTC),
        )
    )


def due(session: Session, batch_size: int) -> list[tuple[str, str, str, int]]:
    """(file id, storage key, sha256, size) of the files to check next."""
    rows = session.execute(
        select(ItemFile.id, ItemFile.storage_key, ItemFile.sha256, ItemFile.size)
        .order_by(ItemFile.last_checked_at.asc().nulls_first(), ItemFile.id)
        .limit(batch_size)
    )
    return [tuple(row) for row in rows]


def measure(storage: Storage, key: str, sha256: str, size: int) -> tuple[bool, str]:
    """(passed, what was found) for one file in storage."""
    try:
        found = storage.digest(key)
    except FileNotFoundError:
        return False, "the file is missing from permanent storage"
    except OSError as err:
        return False, f"the file could not be read: {err}"
    if found.sha256 != sha256 or found.size != size:
        return False, (
            f"SHA-256 {found.sha256} ({found.size} bytes), expected {sha256} ({size} bytes)"
        )
    return True, f"SHA-256 {sha256} matches"


def record_check(uow: UnitOfWork, file_id: str, passed: bool, detail: str) -> None:
    item_file = uow.session.get(ItemFile, file_id)
    if item_file is None:  # removed while it was being hashed
        return
    now = datetime.now(UTC)
    item_file.last_checked_at = now
    item_file.fixity_status = "ok" if passed else "failed"
    record_event(item_file, FIXITY_CHECK, SUCCESS if passed else FAILURE, detail, now)
    if not passed:
        item = uow.session.scalars(
            select(Item)
            .join(Representation)
            .where(Representation.id == item_file.representation_id)
        ).one()
        uow.emit(
            "fixity_failed",
            new_event(
                "inventory",
                "fixity_failed",
                deposit_id=item.deposit_id,
                revision=item.revision,
                item_id=item.id,
                identifier=item.identifier,
                file_id=item_file.id,
                filename=item_file.filename,
                detail=detail,
            ),
        )


def audit(database: Database, storage: Storage, batch_size: int) -> dict[str, int]:
    """Check one batch; how many passed and failed. Conflict while another audit runs."""
    held = jobs.take(database, AUDIT_JOB, STALE_LOCK)
    if held is None:
        raise Conflict("A fixity audit is running already; its results appear when it ends.")
    try:
        return _audit_batch(database, storage, batch_size)
    finally:
        jobs.give_back(database, AUDIT_JOB, held)


def _audit_batch(database: Database, storage: Storage, batch_size: int) -> dict[str, int]:
    with database.reading() as session:
        batch = due(session, batch_size)
    outcome = {"checked": 0, "failed": 0}
    for file_id, key, sha256, size in batch:
        passed, detail = measure(storage, key, sha256, size)
        with database.unit_of_work() as uow:
            record_check(uow, file_id, passed, detail)
        outcome["checked"] += 1
        outcome["failed"] += not passed
    return outcome


def report(session: Session, limit: int = 100) -> dict[str, Any]:
    """What the staff fixity page shows: totals, the failing files, the latest checks."""
    counts = dict(
        session.execute(
            select(ItemFile.fixity_status, func.count()).group_by(ItemFile.fixity_status)
        )
        .tuples()
        .all()
    )
    failing = session.execute(
        select(ItemFile, Item.id, Item.identifier)
        .join(Representation, Representation.id == ItemFile.representation_id)
        .join(Item, Item.id == Representation.item_id)
        .where(ItemFile.fixity_status == "failed")
        .order_by(ItemFile.last_checked_at.desc())
        .limit(limit)
    ).all()
    last_failure = {
        event.file_id: event
        for event in session.scalars(
            select(FileEvent)
            .where(
                FileEvent.file_id.in_([f.id for f, _, _ in failing]), FileEvent.outcome == FAILURE
            )
            .order_by(FileEvent.id)
        )
    }
    oldest = session.scalar(select(func.min(ItemFile.last_checked_at)))
    return {
        "files": sum(counts.values()),
        "ok": counts.get("ok", 0),
        "failed": counts.get("failed", 0),
        "never_checked": counts.get(None, 0),
        "oldest_check": oldest,
        "failures": [
            {
                "item_id": item_id,
                "identifier": identifier,
                "file_id": item_file.id,
                "filename": item_file.filename,
                "checked_at": item_file.last_checked_at,
                "detail": last_failure[item_file.id].detail if item_file.id in last_failure else "",
            }
            for item_file, item_id, identifier in failing
        ],
    }


def failing_count(session: Session) -> int:
    # count() always yields one row, so never None
    return cast(
        int,
        session.scalar(
            select(func.count()).select_from(ItemFile).where(ItemFile.fixity_status == "failed")
        ),
    )


def file_events(session: Session, item: Item) -> list[dict[str, Any]]:
    """Each of the item's files with its event log, oldest event first."""
    return [
        {
            "file_id": item_file.id,
            "filename": item_file.filename,
            "fixity_status": item_file.fixity_status,
            "last_checked_at": item_file.last_checked_at,
            "events": [
                {
                    "event_type": e.event_type,
                    "outcome": e.outcome,
                    "detail": e.detail,
                    "agent": e.agent,
                    "at": e.at,
                }
                for e in item_file.events
            ],
        }
        for representation in item.representations
        for item_file in representation.files
    ]
