"""Corrections of an archived item's metadata by managers, free of nameko.

A correction replaces the Dublin Core record and the creators stored on the item and keeps
who, when, why and, per element, the values before and after. The item's search columns
follow, its OAI datestamp moves so harvesters fetch it again, and `item_corrected` tells
campus systems.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.contracts.actors import Actor
from kernel.contracts.events import new_event
from kernel.contracts.exceptions import Conflict, InvalidInput, NotFound
from kernel.contracts.profiles import DC_ELEMENTS
from kernel.platform.db import UnitOfWork
from kernel.policy.permissions import Action, require
from services.inventory import dois, search
from services.inventory.models import Item, ItemCorrection

CREATORS = "creators"  # the pseudo-element of the people with their ORCID iDs


def person_label(person: dict[str, Any]) -> str:
    """How a creator appears in the history: `Name (ORCID 0000-…)`, as Lodge writes one."""
    return f"{person['name']} (ORCID {person['orcid']})" if person.get("orcid") else person["name"]


def changes(
    before: dict[str, list[str]],
    after: dict[str, list[str]],
    creators_before: Sequence[dict[str, Any]],
    creators_after: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Each element whose values differ, in DCMES order, then the creators."""
    found = [
        {"element": element, "before": before.get(element, []), "after": after.get(element, [])}
        for element in DC_ELEMENTS
        if before.get(element, []) != after.get(element, [])
    ]
    people_before = [person_label(p) for p in creators_before]
    people_after = [person_label(p) for p in creators_after]
    if people_before != people_after:
        found.append({"element": CREATORS, "before": people_before, "after": people_after})
    return found


def corrected_record(
    record: dict[str, list[str]], creators: Sequence[dict[str, Any]]
) -> dict[str, list[str]]:
    """The record as the manager wrote it: empty elements left out, and dc:creator from the
    creators, so the record and the people always agree."""
    if "creator" in record:
        raise InvalidInput(
            "Give the creators as `creators`, not as a record element.",
            fields={"record": {"creator": ["comes from creators"]}},
        )
    corrected = {element: [v.strip() for v in values] for element, values in record.items()}
    corrected = {element: values for element, values in corrected.items() if any(values)}
    for element, values in corrected.items():
        if not all(values):
            raise InvalidInput(
                "A value cannot be blank.", fields={"record": {element: ["has a blank value"]}}
            )
    if not corrected.get("title"):
        raise InvalidInput("An item needs a title.", fields={"record": {"title": ["required"]}})
    names = [person["name"].strip() for person in creators]
    if not all(names):
        raise InvalidInput("A creator needs a name.", fields={"creators": ["has a blank name"]})
    if names:
        corrected["creator"] = names
    return corrected


def correct(
    uow: UnitOfWork,
    actor: Actor,
    item_id: str,
    record: dict[str, list[str]],
    creators: list[dict[str, Any]],
    reason: str,
) -> Item:
    require(actor, Action.CORRECT_ITEMS)
    item = uow.session.scalar(select(Item).where(Item.id == item_id).with_for_update())
    if item is None:
        raise NotFound("There is no such item.")
    if item.withdrawn_at is not None:
        raise Conflict(
            "A withdrawn item cannot be corrected.", fields={"item_id": ["is withdrawn"]}
        )
    people = [{"name": p["name"].strip(), "orcid": p.get("orcid") or None} for p in creators]
    corrected = corrected_record(record, people)
    changed = changes(item.record, corrected, item.creators or [], people)
    if not changed:
        raise InvalidInput(
            "The correction changes nothing.", fields={"record": ["is the same as the item's"]}
        )
    now = datetime.now(UTC)
    uow.session.add(
        ItemCorrection(
            item_id=item.id, actor=actor.person_ref(), reason=reason, changes=changed, at=now
        )
    )
    item.record, item.creators = corrected, people
    after_correction(uow, item, now)
    uow.emit(
        "item_corrected",
        new_event(
            "inventory",
            "item_corrected",
            deposit_id=item.deposit_id,
            revision=item.revision,
            item_id=item.id,
            identifier=item.identifier,
            reason=reason,
            elements=[change["element"] for change in changed],
            actor=actor.person_ref(),
        ),
    )
    return item


def after_correction(uow: UnitOfWork, item: Item, now: datetime) -> None:
    """What follows from an item's new metadata: its search columns, and its datestamp, so
    incremental harvesters fetch it again, and its DOI's metadata at DataCite is updated."""
    search.index(uow.session, item)
    item.datestamp = now.replace(microsecond=0)
    dois.request_sync(uow, item)


def history(session: Session, item: Item) -> Sequence[ItemCorrection]:
    """The item's corrections, newest first."""
    return session.scalars(
        select(ItemCorrection)
        .where(ItemCorrection.item_id == item.id)
        .order_by(ItemCorrection.id.desc())
    ).all()
