"""Events queued in a service's outbox, for the relay tests."""

from kernel.contracts.events import new_event
from kernel.platform.db import Database


def queue_status_changes(database: Database, count: int) -> None:
    """`count` submitted-status changes (deposits d0, d1, ...) in intake's outbox."""
    person = {"id": "u1", "name": "Pat", "email": "pat@example.org", "locale": "en"}
    with database.unit_of_work() as uow:
        for number in range(count):
            uow.emit(
                "deposit_status_changed",
                new_event(
                    "intake",
                    "deposit_status_changed",
                    deposit_id=f"d{number}",
                    revision=1,
                    to_status="submitted",
                    actor=person,
                    depositor=person,
                ),
            )
