"""New versions of archived items, free of nameko.

A new version is a draft like any other, prefilled with the metadata of the item's original
deposit under the same profile at its current version; it goes through the same checks and
approval, and carries `new_version_of` (the item) to inventory, which makes it the next
version of the item's work. Files are not copied: the depositor uploads the new ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kernel.contracts.actors import Actor
from kernel.contracts.deposits import Status
from kernel.contracts.exceptions import Conflict, Forbidden, NotFound
from kernel.platform.config import Quotas
from kernel.platform.db import UnitOfWork
from kernel.policy.permissions import may_start_new_version
from services.intake import deposits
from services.intake import quotas as room
from services.intake.metadata import validate_metadata
from services.intake.models import Deposit

# a new version still on its way: one per work and person at a time
IN_PROGRESS = (Status.DRAFT, Status.RETURNED, Status.SUBMITTED, Status.IN_REVIEW, Status.APPROVED)


def prefill(form: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
    """The original metadata that the profile's current form still takes: fields it dropped
    or whose values it now refuses are left for the depositor to fill in again."""
    kept = {key: value for key, value in metadata.items() if any(f["key"] == key for f in form)}
    refused = validate_metadata(form, kept, complete=False)
    return {key: value for key, value in kept.items() if key not in refused}


def start_new_version(
    uow: UnitOfWork, actor: Actor, item: dict[str, Any], quotas: Quotas
) -> Deposit:
    """A draft that will become the next version of `item` (an ItemView) once archived.
    Its depositor or staff only; not for a withdrawn item; one in progress per work and
    person (Conflict naming it)."""
    session = uow.session
    original = session.get(Deposit, item["deposit_id"])
    if original is None:
        raise NotFound("The item's deposit is not known here.")
    if not may_start_new_version(actor, original.depositor_id):
        raise Forbidden(
            "Only the item's depositor or staff may start a new version of it.",
            fields={"item_id": ["not yours"]},
        )
    if item.get("withdrawn_at"):
        raise Conflict(
            "A withdrawn item cannot get a new version.", fields={"item_id": ["is withdrawn"]}
        )
    room.lock_patron(session, actor.id)  # two requests at once make one draft
    open_one = session.scalar(
        select(Deposit.id).where(
            Deposit.depositor_id == actor.id,
            Deposit.concept_id == item["concept_id"],
            Deposit.status.in_([str(status) for status in IN_PROGRESS]),
        )
    )
    if open_one is not None:
        raise Conflict(
            f"You have a new version of this work in progress already: deposit {open_one}.",
            fields={"deposit_id": [open_one]},
        )
    definition = deposits.usable_profile(session, actor, original.profile_id)
    deposit = deposits.create_deposit(
        uow, actor, original.profile_id, prefill(definition["fields"], original.meta), None, quotas
    )
    deposit.new_version_of, deposit.concept_id = item["id"], item["concept_id"]
    return deposit
