"""Inventory's public side and preservation on SQLite and PostgreSQL: identifiers,
search, the collection tree, embargo lifting and the fixity audit."""

from datetime import UTC, date, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory

from kernel.contracts import inventory as inventory_contracts
from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from kernel.platform.db import Database, SideRead
from lodge.migrations import upgrade
from services.inventory import search
from services.inventory.models import Item
from services.inventory.records import seed_collections
from services.inventory.service import InventoryService
from tests.services.conftest import (
    APPROVER,
    MANAGER,
    PDF,
    STAFF,
    STUDENT,
    loaded_event,
    outbox,
)

FIELDS = [
    {"key": "title", "label": "Title", "type": "text", "dc": "title"},
    {"key": "creators", "label": "Creators", "type": "person", "repeatable": True, "dc": "creator"},
    {"key": "keywords", "label": "Keywords", "type": "keywords", "dc": "subject"},
    {"key": "date", "label": "Date", "type": "date", "dc": "date"},
]


@pytest.fixture
def inventory(database_for, storage, lodge_env):
    database = database_for("inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    service = worker_factory(InventoryService, store=database, storage=storage)
    service.store.database = database
    service.database = database
    return service


def deposit_item(inventory, storage, number, metadata, collection="theses", access=None):
    """Approve a deposit with one PDF; the item's id."""
    deposit_id = f"d{number}"
    stored = storage.save(f"staging/{deposit_id}/f", iter([PDF + deposit_id.encode()]))
    deposit = {
        "id": deposit_id,
        "revision": 1,
        "title": metadata["title"],
        "profile": {
            "id": "thesis",
            "version": 1,
            "name": "Thesis",
            "fields": FIELDS,
            "file_rules": {},
            "approval": {"mode": "manual"},
            "target_collection": collection,
            "access": "open",
        },
        "depositor": {"id": "u1"},
        "metadata": metadata,
        "access": access or {"policy": "open", "embargo_until": None},
        "files": [
            {
                "id": f"f{number}",
                "filename": "thesis.pdf",
                "size": stored.size,
                "sha256": stored.sha256,
                "md5": stored.md5,
                "media_type": "application/pdf",
                "storage_key": stored.key,
            }
        ],
    }
    inventory.on_deposit_approved(
        loaded_event(
            "approval",
            "deposit_approved",
            deposit_id=deposit_id,
            revision=1,
            deposit=deposit,
            decision={
                "decision": "approve",
                "actor": {"id": "system"},
                "at": "2026-11-29T10:00:00+00:00",
            },
        )
    )
    return next(
        e["item_id"]
        for e in outbox(inventory.database, "item_created")
        if e["deposit_id"] == deposit_id
    )


MOSS = {
    "title": "Mosses of the northern fells",
    "creators": [{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}],
    "keywords": ["bryophytes", "uplands"],
    "date": "2024-05-01",
}
TIDES = {
    "title": "Tidal patterns of the Wadden Sea",
    "creators": [{"name": "Fran Faculty"}],
    "keywords": ["oceanography"],
    "date": "2026",
}


def titles(page):
    return sorted(item["title"] for item in page["items"])


def test_search_by_title_creator_keyword_and_year(inventory, storage):
    deposit_item(inventory, storage, 1, MOSS)
    deposit_item(inventory, storage, 2, TIDES, collection="open-works")

    def find(**args):
        return inventory.search_items(**args)

    assert titles(find(query="mosses")) == ["Mosses of the northern fells"]
    assert titles(find(query="Faculty")) == ["Tidal patterns of the Wadden Sea"]
    assert titles(find(query="bryophytes")) == ["Mosses of the northern fells"]
    assert titles(find(query="wadden tidal")) == ["Tidal patterns of the Wadden Sea"]
    assert titles(find(query="moss nothing-like-this")) == []
    assert titles(find(query="fells -bryophytes")) == []
    assert titles(find(query="-bryophytes")) == ["Tidal patterns of the Wadden Sea"]
    assert titles(find(year=2026)) == ["Tidal patterns of the Wadden Sea"]
    assert titles(find(collection="theses")) == ["Mosses of the northern fells"]
    everything = find()
    assert everything["total"] == 2
    assert everything["years"] == [{"year": 2026, "count": 1}, {"year": 2024, "count": 1}]
    [moss] = find(query="mosses")["items"]
    assert moss["creators"] == ["Sam Student"] and moss["year"] == 2024
    # the ORCID iD is not a search word; a stray % matches nothing rather than everything
    assert find(query="%")["total"] == 0
    with pytest.raises(NotFound):
        find(collection="nope")


def test_search_pages(inventory, storage):
    for number in range(5):
        deposit_item(inventory, storage, number, {**MOSS, "title": f"Moss volume {number}"})
    first = inventory.search_items(query="moss", per_page=2, page=1)
    third = inventory.search_items(query="moss", per_page=2, page=3)
    assert first["total"] == 5 and len(first["items"]) == 2 and len(third["items"]) == 1
    seen = {
        i["id"]
        for p in (1, 2, 3)
        for i in inventory.search_items(query="moss", per_page=2, page=p)["items"]
    }
    assert len(seen) == 5


@pytest.fixture
def cap(monkeypatch):
    """A result cap small enough to pass with a handful of items."""

    def set_cap(size):
        monkeypatch.setattr(inventory_contracts, "SEARCH_RESULT_CAP", size)
        monkeypatch.setattr(search, "RESULT_CAP", size)

    return set_cap


def add_items(inventory, *items):
    """Items written as item creation writes them, without deposits: (title, created_at,
    year) each; the ids ascend in the order given."""
    with inventory.database.unit_of_work() as uow:
        for n, (title, created_at, year) in enumerate(items):
            item = Item(
                id=f"t{n:031d}",
                identifier=f"ark:/99999/t-{n}",
                deposit_id=f"t{n}",
                revision=1,
                collection_id="theses",
                access="open",
                record={"title": [title], "creator": ["Bench, Ada"], "date": [str(year)]},
                created_at=created_at,
                datestamp=created_at,
            )
            search.index(uow.session, item)
            uow.session.add(item)
    return [f"t{n:031d}" for n in range(len(items))]


AT = datetime(2026, 1, 1, tzinfo=UTC)


def ids(page):
    return [item["id"] for item in page["items"]]


def test_withdrawn_items_are_neither_found_nor_browsed(inventory, storage):
    kept = deposit_item(inventory, storage, 1, MOSS)
    gone = deposit_item(inventory, storage, 2, {**MOSS, "date": "2019"})
    inventory.withdraw_item(actor=MANAGER, item_id=gone, reason="Plagiarised")
    assert ids(inventory.search_items(query="mosses")) == [kept]
    browsed = inventory.search_items(collection="theses")
    assert ids(browsed) == [kept] and browsed["total"] == 1
    assert inventory.search_items()["years"] == [{"year": 2024, "count": 1}]
    # the collection still holds it: it is counted, and not deletable
    [theses] = [c for c in inventory.list_collections() if c["id"] == "theses"]
    assert theses["item_count"] == 2 and theses["item_count_exact"] is True


def test_pages_break_ties_in_the_date_by_id_and_neither_repeat_nor_skip(inventory):
    # three pairs of items made in the same second, listed newest first
    made = add_items(
        inventory, *[(f"Moss {n}", AT + timedelta(seconds=n // 2), 2020) for n in range(6)]
    )
    newest_first = [made[5], made[4], made[3], made[2], made[1], made[0]]
    for query in (None, "moss"):
        pages = [
            ids(inventory.search_items(query=query, collection="theses", page=n, per_page=2))
            for n in (1, 2, 3, 4)
        ]
        assert pages[3] == []
        assert pages[0] + pages[1] + pages[2] == newest_first  # ranked: all rank the same


def test_words_with_a_year_find_the_items_of_that_year_not_the_ones_naming_it(inventory):
    made = add_items(
        inventory,
        ("Moss survey of 2020", AT, 2019),
        ("Moss", AT + timedelta(days=1), 2020),
        ("Lichen", AT + timedelta(days=2), 2020),
    )
    assert ids(inventory.search_items(query="moss", year=2020)) == [made[1]]
    assert ids(inventory.search_items(query="moss", year=2019)) == [made[0]]
    assert ids(inventory.search_items(query="-lichen", year=2020)) == [made[1]]
    assert ids(inventory.search_items(query="lichen", year=2019)) == []
    # the year typed as a word finds the items it dates and the ones it names
    assert sorted(ids(inventory.search_items(query="moss 2020"))) == sorted(made[:2])


def test_more_matches_than_the_cap_are_counted_so_far_listed_newest_and_years_uncounted(
    inventory, cap
):
    made = add_items(
        inventory,
        ("Moss moss moss", AT, 2001),  # the best match, and the oldest
        ("Moss", AT + timedelta(days=1), 2002),
        ("Moss", AT + timedelta(days=2), 2003),
        ("Lichen", AT + timedelta(days=3), 1999),
    )
    cap(10)
    under = inventory.search_items(query="moss", per_page=10)
    assert under["total"] == 3 and under["total_exact"] is True
    assert under["years"] == [{"year": y, "count": 1} for y in (2003, 2002, 2001)]
    if not inventory.database.is_sqlite:  # ranked: the word three times first
        assert ids(under)[0] == made[0]

    cap(2)
    over = inventory.search_items(query="moss", per_page=1)
    assert over["total"] == 2 and over["total_exact"] is False
    assert ids(over) == [made[2]]  # newest first, however well the oldest matches
    # every year items have, uncounted: a superset of the matches' years
    assert over["years"] == [{"year": y, "count": None} for y in (2003, 2002, 2001, 1999)]
    assert ids(inventory.search_items(query="moss", per_page=1, page=2)) == [made[1]]
    with pytest.raises(InvalidInput):  # a page must start within the cap
        inventory.search_items(query="moss", per_page=1, page=3)
    with pytest.raises(InvalidInput):
        inventory.search_items(query="moss", per_page=2, page=2)
    # a year filter narrows the matches under the cap: counted and ranked again
    in_year = inventory.search_items(query="moss", year=2002)
    assert ids(in_year) == [made[1]] and in_year["total_exact"] is True
    assert in_year["years"][0]["count"] is None  # the years are those without the filter
    listed = {c["id"]: c for c in inventory.list_collections()}
    assert (listed["theses"]["item_count"], listed["theses"]["item_count_exact"]) == (2, False)
    assert (listed["open-works"]["item_count"], listed["open-works"]["item_count_exact"]) == (
        0,
        True,
    )


@pytest.fixture
def pooled_inventory(postgres_database, storage, lodge_env):
    """Inventory on a PostgreSQL database of its own with a pool of connections, as the
    service has (the other tests' one connection reads in turn)."""
    url = postgres_database("pooled_inventory")
    upgrade("inventory", url)
    database = Database(url, "inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    service = worker_factory(InventoryService, store=database, storage=storage)
    service.database = database
    yield service
    database.dispose()


def test_the_newest_first_page_read_beside_the_count_is_the_same_page(
    pooled_inventory, cap, monkeypatch
):
    side_reads = []
    start = SideRead.start
    monkeypatch.setattr(SideRead, "start", lambda read, *a: side_reads.append(1) or start(read, *a))
    made = add_items(
        pooled_inventory,
        *((f"Moss {n}", AT + timedelta(days=n % 3), 2000 + n % 2) for n in range(6)),
        ("Lichen", AT, 1999),
    )
    cap(3)
    over = [pooled_inventory.search_items(query="moss", per_page=2, page=n) for n in (1, 2)]
    assert len(side_reads) == 2
    # newest first, the id breaking ties in the date, and no item on both pages
    assert ids(over[0]) + ids(over[1]) == [made[5], made[2], made[4], made[1]]
    assert over[0]["total"] == 3 and over[0]["total_exact"] is False
    browsed = pooled_inventory.search_items(collection="theses", per_page=3)
    assert ids(browsed) == [made[5], made[2], made[4]]
    cap(10)  # under the cap, ranked after the count; the side read goes unused
    under = pooled_inventory.search_items(query="moss", year=2001, per_page=10)
    assert sorted(ids(under)) == sorted(made[1:6:2]) and under["total_exact"] is True
    assert len(side_reads) == 4


@pytest.mark.parametrize("query", ["'", '"', "-", "a & | ! b", "moss:*", "(((", "\\", "%_", "日本"])
def test_hostile_queries_find_nothing_or_something_but_never_fail(inventory, query):
    add_items(inventory, ("Moss", AT, 2020))
    found = inventory.search_items(query=query)
    assert found["total"] == len(found["items"]) <= 1


def test_a_query_with_a_nul_is_refused(inventory):
    with pytest.raises(InvalidInput):
        inventory.search_items(query="moss\x00")


def test_identifiers_resolve_in_every_spelling(inventory, storage):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    identifier = inventory.get_item(item_id=item_id)["identifier"]
    assert identifier.startswith("ark:/99999/lodge-")
    assert inventory.resolve_identifier(identifier=identifier)["item_id"] == item_id
    plain = identifier.replace("ark:/", "ark:")
    assert inventory.resolve_identifier(identifier=plain)["item_id"] == item_id
    assert (
        inventory.resolve_identifier(identifier="https://n2t.net/" + identifier)["item_id"]
        == item_id
    )
    with pytest.raises(NotFound):
        inventory.resolve_identifier(identifier="ark:/99999/lodge-0000")


def test_the_identifier_prefix_is_configurable(inventory, storage, lodge_env):
    from kernel.platform.config import get_settings

    lodge_env.setenv("LODGE_IDENTIFIER_PREFIX", "ark:/12345/x7")
    get_settings.cache_clear()
    item_id = deposit_item(inventory, storage, 1, MOSS)
    assert inventory.get_item(item_id=item_id)["identifier"].startswith("ark:/12345/x7")


def test_a_bad_identifier_prefix_is_refused():
    from services.inventory.identifiers import check_prefix

    assert check_prefix("20.500.12345/") == "20.500.12345/"
    with pytest.raises(ValueError):
        check_prefix("lodge-")


def test_collections_form_a_tree_of_oai_sets(inventory, storage):
    save = inventory.save_collection
    save(
        actor=MANAGER, collection_id="phd", name="Doctoral theses", parent_id="theses", create=True
    )
    save(actor=MANAGER, collection_id="phd-bio", name="Biology", parent_id="phd", create=True)
    specs = {c["id"]: c["set_spec"] for c in inventory.list_collections()}
    assert specs["phd-bio"] == "theses:phd:phd-bio"

    # rename, describe and move: the set specs below follow
    save(
        actor=MANAGER,
        collection_id="phd",
        name="PhD theses",
        description="Examined.",
        parent_id="open-works",
    )
    collection = inventory.get_collection(collection_id="phd")
    assert collection["name"] == "PhD theses" and collection["description"] == "Examined."
    assert [a["id"] for a in collection["ancestors"]] == ["open-works"]
    assert [c["id"] for c in collection["children"]] == ["phd-bio"]
    assert {c["id"]: c["set_spec"] for c in inventory.list_collections()}[
        "phd-bio"
    ] == "open-works:phd:phd-bio"

    # an item in the child is found when browsing the parent
    item_id = deposit_item(inventory, storage, 1, MOSS, collection="phd-bio")
    assert titles(inventory.search_items(collection="open-works")) == [MOSS["title"]]
    # its landing page names its collection as it is now, and only when asked to
    assert inventory.get_item(item_id=item_id, with_collection=True)["collection_name"] == "Biology"
    save(actor=MANAGER, collection_id="phd-bio", name="Life sciences", parent_id="phd")
    page = inventory.get_item(item_id=item_id, with_collection=True)
    assert (page["collection"], page["collection_name"]) == ("phd-bio", "Life sciences")
    assert "collection_name" not in inventory.get_item(item_id=item_id)

    with pytest.raises(InvalidInput):  # into its own subtree
        save(actor=MANAGER, collection_id="phd", name="PhD", parent_id="phd-bio")
    with pytest.raises(Conflict):
        save(actor=MANAGER, collection_id="phd", name="Again", create=True)
    with pytest.raises(InvalidInput):
        save(actor=MANAGER, collection_id="Bad Id!", name="x", create=True)
    with pytest.raises(Conflict):  # holds a collection
        inventory.delete_collection(actor=MANAGER, collection_id="phd")
    with pytest.raises(Conflict):  # holds an item
        inventory.delete_collection(actor=MANAGER, collection_id="phd-bio")
    save(actor=MANAGER, collection_id="empty", name="Empty", create=True)
    inventory.delete_collection(actor=MANAGER, collection_id="empty")
    with pytest.raises(NotFound):
        inventory.get_collection(collection_id="empty")


@pytest.mark.parametrize("actor", [STUDENT, APPROVER, STAFF])
def test_only_managers_change_collections(inventory, actor):
    with pytest.raises(Forbidden):
        inventory.save_collection(actor=actor, collection_id="x", name="X", create=True)
    with pytest.raises(Forbidden):
        inventory.delete_collection(actor=actor, collection_id="theses")


def test_the_timer_lifts_ended_embargoes_and_says_so(inventory, storage):
    ended = deposit_item(
        inventory,
        storage,
        1,
        MOSS,
        access={
            "policy": "embargo",
            "embargo_until": (date.today() - timedelta(days=1)).isoformat(),
        },
    )
    running = deposit_item(
        inventory,
        storage,
        2,
        TIDES,
        access={
            "policy": "embargo",
            "embargo_until": (date.today() + timedelta(days=30)).isoformat(),
        },
    )
    inventory.lift_embargoes()
    inventory.lift_embargoes()  # a second run finds nothing more to lift
    assert inventory.get_item(item_id=ended)["access"] == "open"
    assert inventory.get_item(item_id=ended)["embargo_lifted_at"] is not None
    assert inventory.get_item(item_id=running)["access"] == "embargo"
    [lifted] = outbox(inventory.database, "embargo_lifted")
    assert lifted["item_id"] == ended


def test_the_audit_catches_a_corrupted_file(inventory, storage):
    good = deposit_item(inventory, storage, 1, MOSS)
    bad = deposit_item(inventory, storage, 2, TIDES)
    stored = inventory.get_item_file(item_id=bad, file_id="f2")
    storage.path(stored["storage_key"]).write_bytes(b"bit rot")

    assert inventory.audit_fixity() == {"checked": 2, "failed": 1}
    [event] = outbox(inventory.database, "fixity_failed")
    assert event["item_id"] == bad and event["file_id"] == "f2"
    assert "expected" in event["detail"]
    report = inventory.fixity_report(actor=STAFF)
    assert (report["files"], report["ok"], report["failed"]) == (2, 1, 1)
    assert [f["file_id"] for f in report["failures"]] == ["f2"]
    assert inventory.fixity_failures(actor=APPROVER) == 1

    [log] = inventory.file_events(actor=STAFF, item_id=bad)
    assert [(e["event_type"], e["outcome"]) for e in log["events"]] == [
        ("replication", "success"),
        ("ingestion", "success"),
        ("fixity check", "failure"),
    ]
    [log] = inventory.file_events(actor=STAFF, item_id=good)
    assert log["events"][-1]["outcome"] == "success" and log["fixity_status"] == "ok"
    with pytest.raises(Forbidden):
        inventory.fixity_report(actor=STUDENT)


def test_the_audit_checks_the_oldest_first_in_batches(inventory, storage, lodge_env):
    from kernel.platform.config import get_settings

    lodge_env.setenv("LODGE_FIXITY_BATCH_SIZE", "2")
    get_settings.cache_clear()
    for number in range(3):
        deposit_item(inventory, storage, number, {**MOSS, "title": f"Moss {number}"})
    inventory.audit_fixity()
    inventory.audit_fixity()  # the one never checked, then the oldest check
    with inventory.database.reading() as session:
        checks = [
            len([e for e in f.events if e.event_type == "fixity check"])
            for item in session.query(Item)
            for r in item.representations
            for f in r.files
        ]
    assert sorted(checks) == [1, 1, 2]


def test_a_missing_permanent_file_fails_the_audit(inventory, storage):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    storage.delete(inventory.get_item_file(item_id=item_id, file_id="f1")["storage_key"])
    assert inventory.audit_fixity()["failed"] == 1
    assert "missing" in inventory.fixity_report(actor=STAFF)["failures"][0]["detail"]


def test_only_one_fixity_audit_runs_at_a_time_across_inventory_processes(inventory, storage):
    """A staff member's second start while an audit runs is a Conflict (409 at the gateway),
    also on another inventory process; the timer skips its tick; the next start works."""
    import threading

    from tests.support.system import poll_until

    deposit_item(inventory, storage, 1, MOSS)
    hashing, release = threading.Event(), threading.Event()

    class SlowStorage(type(storage)):
        def digest(self, key):
            hashing.set()
            release.wait(30)
            return super().digest(key)

    slow = SlowStorage.__new__(SlowStorage)
    slow.__dict__.update(storage.__dict__)
    first = worker_factory(InventoryService, store=inventory.database, storage=slow)
    first.store.database = inventory.database
    outcome = {}
    running = threading.Thread(target=lambda: outcome.update(first.run_fixity_audit(actor=STAFF)))
    running.start()
    try:
        poll_until(hashing.is_set, description="the first audit hashing")
        with pytest.raises(Conflict, match="running already"):
            inventory.run_fixity_audit(actor=STAFF)  # another inventory process
        assert inventory.audit_fixity() is None  # the timer waits for its next tick
    finally:
        release.set()
        running.join(30)
    assert outcome == {"checked": 1, "failed": 0}
    assert inventory.run_fixity_audit(actor=STAFF) == {"checked": 1, "failed": 0}
