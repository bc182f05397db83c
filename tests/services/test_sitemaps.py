"""Inventory's side of the sitemaps: public items in keyset parts, without gaps or repeats."""

from datetime import UTC, datetime, timedelta

import pytest

from kernel.contracts.exceptions import InvalidInput, NotFound
from services.inventory.models import Item
from tests.services.conftest import MANAGER
from tests.services.test_inventory import inventory  # noqa: F401 (fixture)
from tests.services.test_oai_records import START, insert_items


def every_part(inventory, part_size):
    summary = inventory.sitemap_summary(part_size=part_size)
    parts = [
        inventory.sitemap_part(part=n, part_size=part_size)
        for n in range(1, len(summary["parts"]) + 1)
    ]
    return summary, parts


def test_parts_follow_one_another_and_leave_out_withdrawn_items(inventory):
    insert_items(inventory.database, 11)
    inventory.withdraw_item(actor=MANAGER, item_id="item0004", reason="Duplicate")
    summary, parts = every_part(inventory, 4)
    assert [len(part["item_ids"]) for part in parts] == [4, 4, 2] and summary["items"] == 10
    ids = [item_id for part in parts for item_id in part["item_ids"]]
    assert ids == [f"item{n:04d}" for n in range(11) if n != 4]
    # each part's lastmod is its latest datestamp
    assert [p["lastmod"] for p in summary["parts"]] == [part["datestamps"][-1] for part in parts]
    assert all(len(part["datestamps"]) == len(part["item_ids"]) for part in parts)
    assert [p["items"] for p in summary["parts"]] == [4, 4, 2]
    with pytest.raises(NotFound):
        inventory.sitemap_part(part=4, part_size=4)


def test_items_of_one_datestamp_split_across_parts_by_id(inventory):
    insert_items(inventory.database, 7, step=timedelta(0))
    _, parts = every_part(inventory, 3)
    assert [part["item_ids"] for part in parts] == [
        ["item0000", "item0001", "item0002"],
        ["item0003", "item0004", "item0005"],
        ["item0006"],
    ]


def test_an_exact_multiple_has_no_empty_last_part(inventory):
    insert_items(inventory.database, 6)
    summary, parts = every_part(inventory, 3)
    assert [len(part["item_ids"]) for part in parts] == [3, 3] and len(summary["parts"]) == 2
    with pytest.raises(NotFound):
        inventory.sitemap_part(part=3, part_size=3)


def test_an_empty_repository_has_no_parts_and_a_state_from_its_collections(inventory):
    assert inventory.sitemap_summary(part_size=10) == {"items": 0, "parts": []}
    with pytest.raises(NotFound):
        inventory.sitemap_part(part=1, part_size=10)
    assert inventory.sitemap_state()["last_modified"] is not None  # the seeded collections


def test_the_state_is_the_latest_item_datestamp_or_collection(inventory):
    seeded = inventory.sitemap_state()["last_modified"]
    assert inventory.sitemap_state()["collection_ids"] == ["open-works", "theses"]
    insert_items(inventory.database, 1, start=START)  # older than the seeded collections
    assert inventory.sitemap_state()["last_modified"] == seeded
    later = datetime(2099, 1, 1, tzinfo=UTC)
    with inventory.database.unit_of_work() as uow:
        uow.session.get(Item, "item0000").datestamp = later
    assert inventory.sitemap_state()["last_modified"] == "2099-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "call, arguments",
    [
        ("sitemap_summary", {"part_size": 0}),
        ("sitemap_summary", {"part_size": 50_001}),
        ("sitemap_summary", {"part_size": "many"}),
        ("sitemap_part", {"part": 0, "part_size": 10}),
        ("sitemap_part", {"part": -1, "part_size": 10}),
        ("sitemap_part", {"part": 1, "part_size": 10, "offset": 5}),
        ("sitemap_part", {"part": [1], "part_size": 10}),
    ],
)
def test_wrong_arguments_are_refused(inventory, call, arguments):
    with pytest.raises(InvalidInput):
        getattr(inventory, call)(**arguments)
