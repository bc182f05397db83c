"""Inventory's workers: items from approved deposits, verified copies, idempotency."""

import pytest
from nameko.testing.services import worker_factory

from kernel.contracts.exceptions import NotFound, RefusedMessage
from services.inventory.records import FixityError, check_staged, seed_collections
from services.inventory.service import InventoryService
from tests.services.conftest import PDF, loaded_event, outbox


@pytest.fixture
def inventory(database_for, storage, lodge_env):
    database = database_for("inventory")
    with database.unit_of_work() as uow:
        seed_collections(uow.session)
    service = worker_factory(InventoryService, store=database, storage=storage)
    service.database = database
    return service


def approved(storage, content=PDF, expected_sha=None, key="staging/d1/f1"):
    stored = storage.save(key, iter([content]))
    files = [
        {
            "id": "f1",
            "filename": "thesis.pdf",
            "size": stored.size,
            "sha256": expected_sha or stored.sha256,
            "md5": stored.md5,
            "media_type": "application/pdf",
            "storage_key": stored.key,
        }
    ]
    fields = [
        {"key": "title", "label": "Title", "type": "text", "dc": "title"},
        {
            "key": "creators",
            "label": "Creators",
            "type": "person",
            "repeatable": True,
            "dc": "creator",
        },
    ]
    deposit = {
        "id": "d1",
        "revision": 1,
        "title": "On Moss",
        "profile": {
            "id": "thesis",
            "version": 1,
            "name": "Thesis",
            "fields": fields,
            "file_rules": {},
            "approval": {"mode": "manual"},
            "target_collection": "theses",
            "access": "open",
        },
        "depositor": {"id": "u1"},
        "metadata": {"title": "On Moss", "creators": [{"name": "Sam Student"}]},
        "files": files,
    }
    return loaded_event(
        "approval",
        "deposit_approved",
        deposit_id="d1",
        revision=1,
        deposit=deposit,
        decision={
            "decision": "approve",
            "actor": {"id": "system"},
            "at": "2026-11-29T10:00:00+00:00",
        },
    )


def test_approval_creates_the_item_with_a_verified_permanent_copy(inventory, storage):
    inventory.on_deposit_approved(approved(storage))
    [event] = outbox(inventory.database, "item_created")
    item = inventory.get_item(item_id=event["item_id"])
    assert item["identifier"] == event["identifier"] and item["identifier"].startswith("ark:/")
    assert item["record"] == {"title": ["On Moss"], "creator": ["Sam Student"]}
    # a snapshot from before profiles named a type is typed by the profile's name
    assert item["resource_type"] == "thesis"
    [representation] = item["representations"]
    assert representation["usage"] == "master"
    stored = inventory.get_item_file(item_id=item["id"], file_id="f1")
    assert storage.digest(stored["storage_key"]).sha256 == stored["sha256"]
    assert stored["storage_key"].startswith("permanent/")
    assert not storage.exists("staging/d1/f1")


def test_a_redelivered_approval_creates_one_item(inventory, storage):
    event = approved(storage)
    inventory.on_deposit_approved(event)
    inventory.on_deposit_approved(event)
    assert len(outbox(inventory.database, "item_created")) == 1


@pytest.mark.parametrize(
    "key",
    [
        "staging/d2/f1",
        "permanent/d1/f1",
        "permanent/d9/f9",
        "staging/d1/nested/f1",
        "staging/d1",
        "uploads/d1/f1",
    ],
)
def test_an_approval_naming_files_outside_the_deposits_staging_area_touches_nothing(
    inventory, storage, key
):
    """A forged (or mistaken) deposit_approved must not make inventory copy, publish and then
    delete another deposit's files or an archived item's."""
    event = approved(storage, key=key)
    with pytest.raises(RefusedMessage, match="outside the deposit's staging area"):
        inventory.on_deposit_approved(event)
    assert storage.exists(key)
    assert not storage.exists("permanent/d1/f1") or key == "permanent/d1/f1"
    assert outbox(inventory.database) == []


@pytest.mark.parametrize(
    "deposit_id,key",
    [
        ("d1/..", "staging/d1/../f1"),
        ("..", "staging/../permanent/f1"),
        ("d1/x", "staging/d1/x/f1"),
        ("d1", "staging/d1/f1\n"),
        ("d1", "staging/d1/.."),
        ("d1", "/staging/d1/f1"),
        ("d1", "staging/d1//f1"),
        ("", "staging//f1"),
    ],
)
def test_forged_deposit_ids_and_keys_cannot_reach_out_of_the_staging_area(deposit_id, key):
    with pytest.raises(RefusedMessage):
        check_staged({"id": deposit_id, "files": [{"id": "f1", "storage_key": key}]})


def test_a_copy_that_does_not_match_the_upload_creates_no_item(inventory, storage):
    with pytest.raises(FixityError):
        inventory.on_deposit_approved(approved(storage, expected_sha="0" * 64))
    assert outbox(inventory.database) == []
    assert storage.exists("staging/d1/f1")  # kept for the retry or for staff to look at
    with pytest.raises(NotFound):
        inventory.get_item(item_id="nope")
