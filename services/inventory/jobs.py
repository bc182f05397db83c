"""Jobs that run once at a time in all inventory processes together (the fixity audit, the
bag export). A `running_jobs` row is the lock: taken by inserting it, given back by
deleting it; one older than the job's stale age belongs to a process that died."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, update
from sqlalchemy.engine import CursorResult

from kernel.platform.db import Database, insert_new
from services.inventory.models import RunningJob


def take(database: Database, name: str, stale_after: timedelta) -> datetime | None:
    """The lock's time if this process now holds the job; None while another runs it."""
    now = datetime.now(UTC)
    with database.unit_of_work() as uow:
        uow.session.execute(
            delete(RunningJob).where(
                RunningJob.name == name, RunningJob.started_at < now - stale_after
            )
        )
        started = insert_new(uow.session, RunningJob, name=name, started_at=now)
    return now if started else None


def renew(database: Database, name: str, held: datetime) -> datetime | None:
    """Move the lock's time to now; None if it is no longer this run's."""
    renewed = datetime.now(UTC)
    with database.unit_of_work() as uow:
        result = uow.session.execute(
            update(RunningJob)
            .where(RunningJob.name == name, RunningJob.started_at == held)
            .values(started_at=renewed)
        )
        return renewed if cast("CursorResult[Any]", result).rowcount == 1 else None


def give_back(database: Database, name: str, held: datetime) -> None:
    with database.unit_of_work() as uow:
        uow.session.execute(
            delete(RunningJob).where(RunningJob.name == name, RunningJob.started_at == held)
        )
