"""Inventory's demo data for `lodge seed`: the demo collections. Demo only."""

from __future__ import annotations

from kernel.platform.config import Settings
from kernel.platform.db import Database
from services.inventory.records import seed_collections


def seed_demo(settings: Settings) -> None:
    database = Database(settings.database_url("inventory"), "inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    database.dispose()
