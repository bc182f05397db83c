"""Inventory's side of OAI-PMH and withdrawal: keyset pages, selection, deleted records."""

from datetime import UTC, datetime, timedelta

import pytest

from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from kernel.platform.config import get_settings
from services.inventory import oai, versions
from services.inventory.crosswalks import RENDERERS
from services.inventory.models import Item, ItemFile, Representation
from tests.services.conftest import MANAGER, STUDENT, outbox
from tests.services.test_inventory import approved, inventory  # noqa: F401 (fixture)

START = datetime(2026, 1, 1, tzinfo=UTC)


def item_row(n: int, moment: datetime, collection: str = "theses", **columns) -> Item:
    """Item n (item0000, ...) as a test writes it straight into the table."""
    return Item(
        id=f"item{n:04d}",
        identifier=f"ark:/99999/t-{n:04d}",
        deposit_id=f"dep{n:04d}",
        revision=1,
        collection_id=collection,
        access="open",
        record={"title": [f"T{n}"]},
        created_at=moment,
        datestamp=moment,
        **columns,
    )


def insert_items(
    database, count, collection="theses", start=START, step=timedelta(hours=1), first=0, **columns
):
    """Items straight into the table, as many harvests would meet them: item0000 onwards
    (from `first`), with `columns` for all of them."""
    with database.unit_of_work() as uow:
        for n in range(first, first + count):
            uow.session.add(item_row(n, start + step * n, collection, **columns))


def harvest_all(inventory, page_size, **selection):
    """Follow the keyset from page to page as the gateway does; the pages' identifiers."""
    pages, position = [], {}
    while True:
        page = inventory.harvest(limit=page_size, **selection, **position)
        pages.append([record["identifier"] for record in page["records"]])
        if not page["more"]:
            return pages
        last = page["records"][-1]
        position = {"after_datestamp": last["datestamp"], "after_id": last["item_id"]}


def test_pages_follow_one_another_without_gaps_or_repeats(inventory):
    insert_items(inventory.database, 7)
    pages = harvest_all(inventory, 3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [record for page in pages for record in page] == [
        f"ark:/99999/t-{n:04d}" for n in range(7)
    ]


def test_records_with_one_datestamp_are_ordered_by_id_across_pages(inventory):
    insert_items(inventory.database, 5, step=timedelta(0))
    pages = harvest_all(inventory, 2)
    assert [record for page in pages for record in page] == [
        f"ark:/99999/t-{n:04d}" for n in range(5)
    ]


def test_selection_by_dates_and_set(inventory):
    insert_items(inventory.database, 6)
    since, until = START + timedelta(hours=2), START + timedelta(hours=4)
    pages = harvest_all(inventory, 2, since=since.isoformat(), until=until.isoformat())
    assert [record for page in pages for record in page] == [
        "ark:/99999/t-0002",
        "ark:/99999/t-0003",
        "ark:/99999/t-0004",
    ]
    assert harvest_all(inventory, 10, set_spec="open-works") == [[]]
    assert len(harvest_all(inventory, 10, set_spec="theses")[0]) == 6


def test_a_set_holds_the_items_of_the_collections_below_it(inventory):
    inventory.save_collection(
        actor=MANAGER,
        collection_id="history-theses",
        name="History",
        parent_id="theses",
        create=True,
    )
    insert_items(inventory.database, 2)
    with inventory.database.unit_of_work() as uow:
        uow.session.get(Item, "item0001").collection_id = "history-theses"
    [page] = harvest_all(inventory, 10, set_spec="theses")
    assert len(page) == 2
    [nested] = inventory.harvest(limit=10, set_spec="theses:history-theses")["records"]
    assert nested["identifier"] == "ark:/99999/t-0001"
    assert nested["sets"] == ["theses:history-theses"]


def test_metadata_is_rendered_only_when_asked_for(inventory):
    insert_items(inventory.database, 1)
    [headers_only] = inventory.harvest(limit=5)["records"]
    assert headers_only["metadata"] is None and headers_only["sets"] == ["theses"]
    [full] = inventory.harvest(limit=5, metadata_prefix="oai_dc")["records"]
    assert "<dc:title>T0</dc:title>" in full["metadata"]
    with pytest.raises(InvalidInput):
        inventory.harvest(limit=5, metadata_prefix="marc21")


def add_files(database, files_by_item):
    """Files straight into the table, in a representation of their item's own."""
    with database.unit_of_work() as uow:
        for item_id, files in files_by_item.items():
            representation = Representation(id=f"r-{item_id}", usage="master", label="Files")
            for file_id, filename, media_type in files:
                representation.files.append(
                    ItemFile(
                        id=file_id,
                        filename=filename,
                        storage_key=f"permanent/{item_id}/{file_id}",
                        size=1,
                        sha256="0" * 64,
                        md5="0" * 32,
                        media_type=media_type,
                    )
                )
            item = uow.session.get(Item, item_id)
            item.representations.append(representation)


@pytest.mark.parametrize("prefix", ["oai_dc", "datacite", "oai_openaire"])
def test_a_page_renders_each_item_with_its_own_files_set_and_relations(inventory, prefix):
    """A page reads files, set specs and relations for all its items at once: each record
    is what the item alone renders to, through its loaded relationships."""
    insert_items(inventory.database, 5)
    with inventory.database.unit_of_work() as uow:
        uow.session.get(Item, "item0004").collection_id = "open-works"
    add_files(
        inventory.database,
        {
            "item0000": [("f-b", "b.pdf", "application/pdf"), ("f-a", "a.csv", "text/csv")],
            "item0002": [("f-c", "c.png", "image/png")],
        },
    )
    page = inventory.harvest(limit=10, metadata_prefix=prefix)["records"]
    settings = get_settings().site
    with inventory.database.reading() as session:
        for record in page:
            item = session.get(Item, record["item_id"])
            relations = versions.relations_by_item(session, [item])[item.id]
            source = oai.crosswalk_input(
                item, settings.base_url, settings.repository_name, relations, oai.files_of(item)
            )
            assert record["metadata"] == RENDERERS[prefix](source)
            assert record["sets"] == [item.collection_id]
    assert [r["sets"] for r in page] == [["theses"]] * 4 + [["open-works"]]
    assert "/files/f-a" in page[0]["metadata"] or prefix != "oai_openaire"
    for record in page:  # GetRecord reads the same way
        same = inventory.oai_record(identifier=record["identifier"], metadata_prefix=prefix)
        assert record == same


def test_an_approved_deposit_keeps_creators_technical_metadata_and_a_datestamp(inventory, storage):
    event = approved(storage)
    event["deposit"]["files"][0]["technical"] = {"pages": 12, "pdf_version": "1.4"}
    event["deposit"]["metadata"]["creators"] = [
        {"name": "Sam Student", "orcid": "0000-0002-1825-0097"}
    ]
    inventory.on_deposit_approved(event)
    [record] = inventory.harvest(limit=5, metadata_prefix="datacite")["records"]
    assert "0000-0002-1825-0097" in record["metadata"]
    item = inventory.get_item(item_id=record["item_id"])
    assert item["creators"] == [{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}]
    assert item["representations"][0]["files"][0]["technical"] == {
        "pages": 12,
        "pdf_version": "1.4",
    }
    assert record["datestamp"] == item["created_at"][:19] + "+00:00"
    assert inventory.repository_summary()["earliest_datestamp"] == record["datestamp"]


def test_a_manager_withdraws_an_item_which_then_harvests_as_deleted(inventory):
    insert_items(inventory.database, 2)
    with pytest.raises(Forbidden):
        inventory.withdraw_item(actor=STUDENT, item_id="item0000", reason="no")
    with pytest.raises(InvalidInput):
        inventory.withdraw_item(actor=MANAGER, item_id="item0000", reason="")
    item = inventory.withdraw_item(actor=MANAGER, item_id="item0000", reason="Plagiarism found")
    assert item["withdrawn_at"] and item["withdrawal_reason"] == "Plagiarism found"
    [event] = outbox(inventory.database, "item_withdrawn")
    assert (event["item_id"], event["identifier"], event["reason"], event["actor"]["id"]) == (
        "item0000",
        "ark:/99999/t-0000",
        "Plagiarism found",
        MANAGER["id"],
    )
    with pytest.raises(Conflict):
        inventory.withdraw_item(actor=MANAGER, item_id="item0000", reason="again")
    with pytest.raises(NotFound):
        inventory.withdraw_item(actor=MANAGER, item_id="nope", reason="gone")
    records = inventory.harvest(limit=5, metadata_prefix="oai_dc")["records"]
    # the withdrawal is a change: the record moves to the end with a new datestamp
    assert [r["identifier"] for r in records] == ["ark:/99999/t-0001", "ark:/99999/t-0000"]
    assert records[1]["deleted"] and records[1]["metadata"] is None
    assert records[1]["datestamp"] > records[0]["datestamp"]
    assert inventory.oai_record(identifier="ark:/99999/t-0000", metadata_prefix="oai_dc")["deleted"]
    with pytest.raises(NotFound):
        inventory.oai_record(identifier="ark:/99999/none", metadata_prefix=None)
