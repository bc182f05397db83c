"""Letters' demo data for `lodge seed`: the demo staff as recipients. Demo only."""

from __future__ import annotations

from kernel.contracts.actors import Actor
from kernel.platform.config import Settings
from kernel.platform.db import Database
from services.letters.letters import save_recipient


def seed_demo(settings: Settings, staff_actors: list[Actor]) -> None:
    """The demo approvers hear of new deposits before they first sign in."""
    database = Database(settings.database_url("letters"), "letters")
    with database.unit_of_work() as uow:
        for actor in staff_actors:
            save_recipient(uow.session, actor, None)
    database.dispose()
