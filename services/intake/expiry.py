"""Abandoned drafts: a warning, then removal with their staged files. No framework.

A draft (or a returned deposit) untouched for `draft_expiry_seconds` is removed: its files
go and it is withdrawn by Lodge, with a history step saying why. `draft_warning_seconds`
before that its depositor is warned (the `draft_expiring` event; letters writes to them).
A change after the warning calls the removal off; the clock starts again from that change.
Removal never comes sooner than `draft_warning_seconds` after the warning, so a timer that
ran late never removes a draft whose depositor had no time to act.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select

from kernel.contracts.actors import SYSTEM
from kernel.contracts.events import new_event
from kernel.platform.config import Quotas
from kernel.platform.db import UnitOfWork
from services.intake import lifecycle
from services.intake.deposits import _record
from services.intake.lifecycle import EDITABLE
from services.intake.models import Deposit

BATCH = 100
EXPIRED = "draft_expired"
_UNFINISHED = Deposit.status.in_([str(status) for status in EDITABLE])


def warn_untouched(uow: UnitOfWork, now: datetime, quotas: Quotas, limit: int = BATCH) -> int:
    """Warn the depositors of drafts nearing their end; how many were warned."""
    age = timedelta(seconds=quotas.draft_expiry_seconds)
    notice = timedelta(seconds=quotas.draft_warning_seconds)
    due = uow.session.scalars(
        select(Deposit)
        .where(
            _UNFINISHED,
            Deposit.updated_at <= now - (age - notice),
            or_(Deposit.expiry_warned_at.is_(None), Deposit.expiry_warned_at < Deposit.updated_at),
        )
        .order_by(Deposit.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for deposit in due:
        deposit.expiry_warned_at = now
        expires_at = max(deposit.updated_at + age, now + notice)
        uow.emit(
            "draft_expiring",
            new_event(
                "intake",
                "draft_expiring",
                deposit_id=deposit.id,
                revision=deposit.revision,
                title=deposit.title,
                depositor=deposit.depositor,
                expires_at=expires_at,
            ),
        )
    return len(due)


def remove_abandoned(
    uow: UnitOfWork, now: datetime, quotas: Quotas, limit: int = BATCH
) -> tuple[int, list[str]]:
    """Remove warned drafts whose time is up: (how many, storage keys to delete after commit)."""
    age = timedelta(seconds=quotas.draft_expiry_seconds)
    notice = timedelta(seconds=quotas.draft_warning_seconds)
    due = uow.session.scalars(
        select(Deposit)
        .where(
            _UNFINISHED,
            Deposit.updated_at <= now - age,
            Deposit.expiry_warned_at >= Deposit.updated_at,
            Deposit.expiry_warned_at <= now - notice,
        )
        .order_by(Deposit.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    keys = []
    for deposit in due:
        keys += [record.storage_key for record in deposit.files]
        untouched_since = deposit.updated_at
        deposit.files.clear()
        step = lifecycle.Expire.apply(
            deposit,
            SYSTEM.person_ref(),
            EXPIRED,
            f"Untouched since {untouched_since:%Y-%m-%d %H:%M UTC}: removed with its files.",
            now,
        )
        _record(uow, deposit, step)
    return len(due), keys
