"""Inventory's usage statistics on SQLite and PostgreSQL: batches applied once, the rules
across batches, the monthly report, the top items, and what counts nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kernel.contracts.exceptions import Forbidden, InvalidInput, NotFound
from kernel.platform.db import ProcessedEvent
from services.inventory.models import UsageClick
from services.inventory.usage import forget_old_state
from tests.services.conftest import MANAGER, STAFF, STUDENT, outbox
from tests.services.test_inventory import approved, inventory  # noqa: F401 - the fixture

AT = datetime(2026, 1, 31, 23, 59, 0, tzinfo=UTC)
ALICE, BOB = "a" * 64, "b" * 64


@pytest.fixture
def item(inventory, storage):
    inventory.on_deposit_approved(approved(storage))
    [event] = outbox(inventory.database, "item_created")
    found = inventory.get_item(item_id=event["item_id"])
    return {"id": found["id"], "file": found["representations"][0]["files"][0]["id"]}


def hit(item, kind="investigation", user=ALICE, seconds=0, **extra) -> dict:
    return {
        "kind": kind,
        "item_id": item["id"],
        "file_id": item["file"] if kind == "request" else None,
        "user": user,
        "at": (AT + timedelta(seconds=seconds)).isoformat(),
        **extra,
    }


def batch(*hits) -> dict:
    return {"batch_id": uuid.uuid4().hex, "hits": list(hits)}


def totals(inventory, item) -> dict:
    return inventory.get_item(item_id=item["id"], with_usage=True)["usage"]


def report(inventory, begin="2026-01", end="2026-02", collection=None):
    return inventory.usage_report(actor=STAFF, begin=begin, end=end, collection=collection)


def test_a_batch_sent_twice_counts_once(inventory, item):
    sent = batch(hit(item), hit(item, "request", seconds=5), hit(item, user=BOB))
    assert inventory.record_usage(**sent) == {"counted": 3, "repeated": False}
    assert inventory.record_usage(**sent) == {"counted": 0, "repeated": True}
    assert totals(inventory, item) == {"views": 3, "downloads": 1}


def test_a_double_click_across_batches_and_a_month_boundary_counts_once_in_the_later_month(
    inventory, item
):
    inventory.record_usage(**batch(hit(item, seconds=50)))  # 23:59:50 on 31 January
    inventory.record_usage(**batch(hit(item, seconds=70)))  # 00:00:10 on 1 February
    [row] = report(inventory)["items"]
    assert row["months"] == [
        {
            "month": "2026-01",
            "figures": {
                "Total_Item_Investigations": 0,
                "Unique_Item_Investigations": 0,
                "Total_Item_Requests": 0,
                "Unique_Item_Requests": 0,
            },
        },
        {
            "month": "2026-02",
            "figures": {
                "Total_Item_Investigations": 1,
                "Unique_Item_Investigations": 1,
                "Total_Item_Requests": 0,
                "Unique_Item_Requests": 0,
            },
        },
    ]


def test_unique_counts_follow_the_session(inventory, item):
    inventory.record_usage(**batch(hit(item, seconds=-3000), hit(item, seconds=-1000)))
    inventory.record_usage(**batch(hit(item, "request", seconds=-500), hit(item, user=BOB)))
    [row] = report(inventory)["items"]
    assert row["months"][0]["figures"] == {
        "Total_Item_Investigations": 4,
        "Unique_Item_Investigations": 2,
        "Total_Item_Requests": 1,
        "Unique_Item_Requests": 1,
    }
    assert row["title"] == "On Moss"


def test_forged_withdrawn_and_mismatched_hits_count_nothing(inventory, item):
    forged = {"id": "nosuchitem", "file": item["file"]}
    stranger_file = {"id": item["id"], "file": "nosuchfile"}
    outcome = inventory.record_usage(
        **batch(hit(forged), hit(forged, "request"), hit(stranger_file, "request"))
    )
    assert outcome["counted"] == 0
    inventory.withdraw_item(actor=MANAGER, item_id=item["id"], reason="Duplicate")
    assert inventory.record_usage(**batch(hit(item)))["counted"] == 0
    assert totals(inventory, item) == {"views": 0, "downloads": 0}


def test_the_most_viewed_and_downloaded_per_collection(inventory, item):
    inventory.record_usage(**batch(hit(item), hit(item, user=BOB), hit(item, "request")))
    [table] = inventory.top_items(actor=STAFF, limit=5)
    assert table["collection"] == "theses"
    assert table["most_viewed"] == [{"item_id": item["id"], "title": "On Moss", "count": 3}]
    assert table["most_downloaded"] == [{"item_id": item["id"], "title": "On Moss", "count": 1}]


def test_only_staff_see_the_figures_and_bad_periods_are_refused(inventory, item):
    with pytest.raises(Forbidden):
        inventory.usage_report(actor=STUDENT, begin="2026-01", end="2026-02", collection=None)
    with pytest.raises(Forbidden):
        inventory.top_items(actor=STUDENT, limit=5)
    for begin, end in (("2026-13", "2026-12"), ("2026-05", "2026-01"), ("2020-01", "2026-01")):
        with pytest.raises(InvalidInput):
            report(inventory, begin, end)
    with pytest.raises(NotFound):
        report(inventory, collection="no-such-collection")
    with pytest.raises(InvalidInput):
        report(inventory, collection="../../etc")


def test_hostile_batches_are_refused_whole(inventory, item):
    with pytest.raises(InvalidInput):
        inventory.record_usage(**batch(hit(item, user="192.0.2.1")))  # never an address
    with pytest.raises(InvalidInput):
        inventory.record_usage(**batch(hit(item, kind="purchase")))
    with pytest.raises(InvalidInput):
        inventory.record_usage(batch_id="x", hits=[])
    with pytest.raises(InvalidInput):
        inventory.record_usage(**batch(*[hit(item)] * 5001))
    assert totals(inventory, item) == {"views": 0, "downloads": 0}


def test_months_are_utc_whatever_zone_a_time_comes_in(inventory, item):
    # 00:30 on 1 February in UTC+2 is 22:30 on 31 January, UTC
    inventory.record_usage(**batch(hit(item, at="2026-02-01T00:30:00+02:00")))
    [row] = report(inventory)["items"]
    assert [month["month"] for month in row["months"]] == ["2026-01"]


def test_old_state_and_batch_ids_are_forgotten_and_todays_kept(inventory, item):
    sent = batch(hit(item, at=datetime.now(UTC).isoformat()))
    inventory.record_usage(**batch(hit(item)))  # January: long ago
    inventory.record_usage(**sent)
    with inventory.database.unit_of_work() as uow:
        forget_old_state(uow.session, datetime.now(UTC) + timedelta(hours=1))
    with inventory.database.reading() as session:
        assert session.scalar(select(func.count()).select_from(UsageClick)) == 1
        keys = session.scalars(select(ProcessedEvent.key).where(ProcessedEvent.key.like("usage%")))
        assert len(list(keys)) == 2  # both batch ids were recorded just now
    assert inventory.record_usage(**sent)["repeated"]
    with inventory.database.unit_of_work() as uow:
        forget_old_state(uow.session, datetime.now(UTC) + timedelta(days=3))
    with inventory.database.reading() as session:
        assert session.scalar(select(func.count()).select_from(UsageClick)) == 0
        keys = session.scalars(select(ProcessedEvent.key).where(ProcessedEvent.key.like("usage%")))
        assert list(keys) == []
