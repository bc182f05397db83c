"""Approval's demo data for `lodge seed`: the reasons to decline or return. Demo only."""

from __future__ import annotations

from kernel.platform.config import Settings
from kernel.platform.db import Database
from services.approval.review import seed_reasons


def seed_demo(settings: Settings) -> None:
    database = Database(settings.database_url("approval"), "approval")
    with database.unit_of_work() as uow:
        seed_reasons(uow.session)
    database.dispose()
