"""Embargoes end on their date: the timer opens the item and says so with an event.

Downloads check the date themselves (gateway/access.py), so a file opens on time even
when this timer runs late; the timer makes the item's recorded access (and so the
landing page, the API and OAI) say "open" and lets other systems know.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from kernel.contracts.events import new_event
from kernel.platform.db import UnitOfWork
from services.inventory import dois
from services.inventory.models import Item

BATCH = 200


def lift_expired_embargoes(uow: UnitOfWork, today: date) -> list[Item]:
    """Open the items whose embargo ended by `today`; one batch per transaction."""
    items = uow.session.scalars(
        select(Item)
        .where(Item.access == "embargo", Item.embargo_until <= today)
        .order_by(Item.embargo_until, Item.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    now = datetime.now(UTC)
    for item in items:
        item.access, item.embargo_lifted_at = "open", now
        uow.emit(
            "embargo_lifted",
            new_event(
                "inventory",
                "embargo_lifted",
                deposit_id=item.deposit_id,
                revision=item.revision,
                item_id=item.id,
                identifier=item.identifier,
                embargo_until=item.embargo_until,
            ),
        )
        dois.request_sync(uow, item)  # DataCite's access rights say "open" now too
    return list(items)
