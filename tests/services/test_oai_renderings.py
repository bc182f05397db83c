"""Harvests keep the records they render, and use a kept one only while it is right."""

import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from kernel.platform.config import get_settings
from services.inventory import oai, renderings, versions
from services.inventory.crosswalks import RENDERERS
from services.inventory.models import (
    CONCEPT,
    DoiRegistration,
    Item,
    ItemFile,
    ItemRendering,
    Representation,
)
from tests.services.conftest import MANAGER
from tests.services.test_inventory import inventory  # noqa: F401 (fixture)
from tests.services.test_oai_records import add_files, insert_items

PREFIXES = ["oai_dc", "datacite", "oai_openaire"]


def kept(database, prefix="oai_dc"):
    with database.reading() as session:
        rows = session.execute(
            select(ItemRendering.item_id, ItemRendering.body, ItemRendering.expires_on).where(
                ItemRendering.metadata_prefix == prefix
            )
        )
        return {row.item_id: row for row in rows}


def mark_kept(database):
    """Replace every kept body by a marker, so a harvest shows which records it took as
    kept and which it rendered afresh."""
    with database.unit_of_work() as uow:
        uow.session.execute(update(ItemRendering).values(body="kept:" + ItemRendering.item_id))


def harvested(inventory, prefix="oai_dc"):
    return {
        r["item_id"]: r["metadata"]
        for r in inventory.harvest(limit=50, metadata_prefix=prefix)["records"]
    }


def rendered_now(database, item_id, prefix="oai_dc"):
    """What the item renders to now, from the item alone."""
    settings = get_settings().site
    with database.reading() as session:
        item = session.get(Item, item_id)
        relations = versions.relations_by_item(session, [item])[item.id]
        return RENDERERS[prefix](
            oai.crosswalk_input(
                item, settings.base_url, settings.repository_name, relations, oai.files_of(item)
            )
        )


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_harvest_keeps_what_it_renders_and_the_next_one_uses_it(inventory, prefix):
    insert_items(inventory.database, 3)
    first = harvested(inventory, prefix)
    assert set(kept(inventory.database, prefix)) == set(first)
    assert all(kept(inventory.database, prefix)[i].body == first[i] for i in first)
    assert kept(inventory.database, "oai_dc" if prefix != "oai_dc" else "datacite") == {}
    mark_kept(inventory.database)
    assert harvested(inventory, prefix) == {i: f"kept:{i}" for i in first}
    record = inventory.oai_record(identifier="ark:/99999/t-0001", metadata_prefix=prefix)
    assert record["metadata"] == "kept:item0001"  # GetRecord reads the same way
    assert inventory.harvest(limit=50)["records"][0]["metadata"] is None  # headers only


def test_a_change_to_an_item_or_its_files_is_rendered_afresh(inventory):
    insert_items(inventory.database, 4)
    harvested(inventory, "datacite")
    mark_kept(inventory.database)
    with inventory.database.unit_of_work() as uow:  # any write path: a mapper event counts it
        uow.session.get(Item, "item0000").record = {"title": ["Corrected"]}
    add_files(inventory.database, {"item0001": [("f-1", "a.pdf", "application/pdf")]})
    after = harvested(inventory, "datacite")
    assert "<title>Corrected</title>" in after["item0000"]
    assert after["item0000"] == rendered_now(inventory.database, "item0000", "datacite")
    assert "<format>application/pdf</format>" in after["item0001"]
    assert after["item0001"] == rendered_now(inventory.database, "item0001", "datacite")
    assert after["item0002"] == "kept:item0002" and after["item0003"] == "kept:item0003"
    # the fresh ones are kept in their turn
    assert kept(inventory.database, "datacite")["item0000"].body == after["item0000"]
    mark_kept(inventory.database)
    with inventory.database.unit_of_work() as uow:
        uow.session.get(ItemFile, "f-1").media_type = "text/csv"
    assert "<format>text/csv</format>" in harvested(inventory, "datacite")["item0001"]
    mark_kept(inventory.database)
    with inventory.database.unit_of_work() as uow:  # the fixity audit's columns show nothing
        uow.session.get(ItemFile, "f-1").fixity_status = "ok"
    assert harvested(inventory, "datacite")["item0001"] == "kept:item0001"
    with inventory.database.unit_of_work() as uow:  # the files move to another item
        uow.session.get(Representation, "r-item0001").item_id = "item0002"
    moved = harvested(inventory, "datacite")
    assert "<format>text/csv</format>" in moved["item0002"]
    assert "<formats>" not in moved["item0001"]
    assert moved["item0003"] == "kept:item0003"


def test_a_withdrawn_item_harvests_as_deleted_whatever_was_kept(inventory):
    insert_items(inventory.database, 2)
    harvested(inventory)
    mark_kept(inventory.database)
    inventory.withdraw_item(actor=MANAGER, item_id="item0000", reason="Plagiarism found")
    records = {
        r["item_id"]: r for r in inventory.harvest(limit=5, metadata_prefix="oai_dc")["records"]
    }
    assert records["item0000"]["deleted"] and records["item0000"]["metadata"] is None
    assert records["item0001"]["metadata"] == "kept:item0001"


def _work_of(database, *item_ids):
    """Make the items versions 1, 2, ... of one work, as archiving new versions does."""
    with database.unit_of_work() as uow:
        first = uow.session.get(Item, item_ids[0])
        for number, item_id in enumerate(item_ids[1:], start=2):
            later = uow.session.get(Item, item_id)
            later.concept_id, later.concept_identifier = first.concept_id, first.concept_identifier
            later.version = number


def _new_version(database):
    """item0003 archived as version 2 of item0000's work: a row of its own."""
    with database.reading() as session:
        first = session.get(Item, "item0000")
        work = {"concept_id": first.concept_id, "concept_identifier": first.concept_identifier}
    insert_items(database, 1, first=3, version=2, **work)


def _version_doi(database):
    with database.unit_of_work() as uow:
        uow.session.get(Item, "item0001").doi = "10.5555/version-two"


def _concept_doi(database):
    with database.unit_of_work() as uow:
        uow.session.add(
            DoiRegistration(
                doi="10.5555/the-work", item_id="item0001", kind=CONCEPT, state="reserved"
            )
        )


@pytest.mark.parametrize(
    ("change", "later", "seen_in"),
    [
        (_new_version, [], "ark:/99999/t-0003"),
        (_version_doi, ["item0001"], "10.5555/version-two"),
        (_concept_doi, ["item0001"], "10.5555/the-work"),
    ],
)
def test_a_change_to_a_work_renders_each_of_its_versions_afresh(inventory, change, later, seen_in):
    """A version's record names the others: a change to one row moves them all. `later`:
    the later versions of item0000's work before the change."""
    insert_items(inventory.database, 3)
    _work_of(inventory.database, "item0000", *later)
    harvested(inventory, "datacite")
    mark_kept(inventory.database)
    change(inventory.database)
    after = harvested(inventory, "datacite")
    assert seen_in in after["item0000"]
    for item_id in ["item0000", *later]:
        assert after[item_id] == rendered_now(inventory.database, item_id, "datacite")
    assert after["item0002"] == "kept:item0002"  # another work's


def test_another_site_name_or_address_renders_every_record_afresh(inventory):
    insert_items(inventory.database, 2)
    harvested(inventory, "datacite")
    mark_kept(inventory.database)
    inventory_env = pytest.MonkeyPatch()
    try:
        inventory_env.setenv("LODGE_REPOSITORY_NAME", "Another Repository")
        get_settings.cache_clear()
        after = harvested(inventory, "datacite")
    finally:
        inventory_env.undo()
        get_settings.cache_clear()
    assert all("<publisher>Another Repository</publisher>" in body for body in after.values())


def test_an_embargoed_items_rendering_expires_when_its_embargo_ends(inventory):
    insert_items(inventory.database, 2)
    ends = date.today() + timedelta(days=30)
    with inventory.database.unit_of_work() as uow:
        item = uow.session.get(Item, "item0000")
        item.access, item.embargo_until = "embargo", ends
    add_files(inventory.database, {"item0000": [("f-e", "e.pdf", "application/pdf")]})
    first = harvested(inventory, "oai_openaire")
    harvested(inventory, "datacite")
    assert "embargoed access" in first["item0000"]
    assert kept(inventory.database, "oai_openaire")["item0000"].expires_on == ends
    assert kept(inventory.database, "datacite")["item0000"].expires_on is None  # not dated
    assert kept(inventory.database, "oai_openaire")["item0001"].expires_on is None
    mark_kept(inventory.database)
    assert harvested(inventory, "oai_openaire")["item0000"] == "kept:item0000"
    with inventory.database.unit_of_work() as uow:  # the day has come: the rendering says so
        uow.session.execute(
            update(ItemRendering)
            .where(ItemRendering.item_id == "item0000")
            .values(expires_on=date.today())
        )
    assert harvested(inventory, "oai_openaire")["item0000"] == rendered_now(
        inventory.database, "item0000", "oai_openaire"
    )


def test_a_rendering_that_cannot_be_kept_costs_only_a_render_later(inventory, caplog):
    caplog.set_level(logging.INFO, logger=renderings.__name__)
    insert_items(inventory.database, 1)
    renderings.keep(
        inventory.database,
        [
            {
                "item_id": "no-such-item",
                "metadata_prefix": "oai_dc",
                "serial": 0,
                "digest": "0" * 32,
                "expires_on": None,
                "body": "<x/>",
            }
        ],
    )
    assert "did not keep 1 rendered records" in caplog.text
    assert kept(inventory.database) == {}
    assert "<dc:title>T0</dc:title>" in harvested(inventory)["item0000"]
    assert set(kept(inventory.database)) == {"item0000"}


def test_a_release_that_renders_records_otherwise_renders_every_record_afresh(
    inventory, monkeypatch
):
    insert_items(inventory.database, 2)
    harvested(inventory)
    mark_kept(inventory.database)
    assert harvested(inventory) == {"item0000": "kept:item0000", "item0001": "kept:item0001"}
    monkeypatch.setattr(renderings, "CODE_FINGERPRINT", "another release")
    after = harvested(inventory)
    assert after == {i: rendered_now(inventory.database, i) for i in ("item0000", "item0001")}


def test_the_fingerprint_is_of_the_code_that_renders_records():
    import services.inventory.crosswalks

    assert "services.inventory.crosswalks" in renderings.RENDERING_CODE
    assert services.inventory.crosswalks.__name__ in renderings.RENDERING_CODE
    assert renderings._fingerprint(renderings.RENDERING_CODE) == renderings.CODE_FINGERPRINT
    assert renderings._fingerprint(("services.inventory.crosswalks",)) != renderings._fingerprint(
        ("services.inventory.openaire",)
    )


def test_a_concept_doi_pointed_at_another_version_of_its_work_renders_nothing_afresh(inventory):
    insert_items(inventory.database, 3)
    _work_of(inventory.database, "item0000", "item0001")
    _concept_doi(inventory.database)
    harvested(inventory, "datacite")
    mark_kept(inventory.database)
    with inventory.database.unit_of_work() as uow:  # as each sync points it at the latest
        uow.session.get(DoiRegistration, "10.5555/the-work").item_id = "item0000"
    assert set(harvested(inventory, "datacite").values()) == {
        "kept:item0000",
        "kept:item0001",
        "kept:item0002",
    }
    with inventory.database.unit_of_work() as uow:  # to another work: both works change
        uow.session.get(DoiRegistration, "10.5555/the-work").item_id = "item0002"
    after = harvested(inventory, "datacite")
    assert "10.5555/the-work" in after["item0002"]
    assert "10.5555/the-work" not in after["item0000"]
    for item_id in after:
        assert after[item_id] == rendered_now(inventory.database, item_id, "datacite")


def test_get_record_keeps_what_it_rendered(inventory):
    insert_items(inventory.database, 2)
    record = inventory.oai_record(identifier="ark:/99999/t-0001", metadata_prefix="datacite")
    assert kept(inventory.database, "datacite")["item0001"].body == record["metadata"]
    assert "item0000" not in kept(inventory.database, "datacite")
