"""What one patron may hold unfinished: drafts (draft or returned deposits) and the bytes
staged on them. Plain functions over a session; the limits are site settings (Quotas).

Checks that admit something new run under a per-patron lock held until the transaction
ends, so two requests at once cannot both take the last room: on PostgreSQL an advisory
lock, on SQLite the database's single writer (every unit of work holds the process lock).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from kernel.contracts.exceptions import QuotaExceeded, TooLarge
from kernel.platform.config import Quotas
from services.intake.lifecycle import EDITABLE
from services.intake.models import Deposit, DepositFile

_UNFINISHED = Deposit.status.in_([str(status) for status in EDITABLE])


def lock_patron(session: Session, depositor_id: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(
        hashlib.sha256(f"quota:{depositor_id}".encode()).digest()[:8], "big", signed=True
    )
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def usage(session: Session, depositor_id: str, quotas: Quotas) -> dict[str, Any]:
    """How much of each limit the patron uses: {"drafts": {used, limit}, "staged_bytes": …}."""
    drafts = session.scalar(
        select(func.count())
        .select_from(Deposit)
        .where(Deposit.depositor_id == depositor_id, _UNFINISHED)
    )
    staged = session.scalar(
        select(func.coalesce(func.sum(DepositFile.size), 0))
        .join(Deposit, DepositFile.deposit_id == Deposit.id)
        .where(Deposit.depositor_id == depositor_id, _UNFINISHED)
    )
    return {
        "drafts": {"used": drafts, "limit": quotas.drafts},
        "staged_bytes": {"used": int(staged or 0), "limit": quotas.staged_bytes},
    }


def require_room_for_draft(session: Session, depositor_id: str, quotas: Quotas) -> None:
    lock_patron(session, depositor_id)
    drafts = usage(session, depositor_id, quotas)["drafts"]
    if drafts["used"] >= drafts["limit"]:
        raise QuotaExceeded(
            f"There are already {drafts['used']} unfinished deposits, the most allowed "
            f"({drafts['limit']}); submit or withdraw one first.",
            fields={"drafts": [f"{drafts['used']} of {drafts['limit']} used"]},
        )


def staged_room(session: Session, depositor_id: str, quotas: Quotas) -> int:
    staged = usage(session, depositor_id, quotas)["staged_bytes"]
    return max(int(staged["limit"]) - int(staged["used"]), 0)


def require_room_for_bytes(session: Session, depositor_id: str, size: int, quotas: Quotas) -> None:
    lock_patron(session, depositor_id)
    room = staged_room(session, depositor_id, quotas)
    if size > room:
        raise staging_full(room, quotas)


def staging_full(room: int, quotas: Quotas) -> TooLarge:
    return TooLarge(
        f"Your unfinished deposits may hold {quotas.staged_bytes} bytes of files; "
        f"{room} bytes are left. Remove files or finish a deposit first.",
        fields={"staged_bytes": [f"{room} of {quotas.staged_bytes} bytes left"]},
    )
