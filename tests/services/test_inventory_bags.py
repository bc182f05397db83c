"""Preservation export on SQLite and PostgreSQL with real storage: bags that `bagit`
validates, in a folder and on the S3 stand-in, the scheduled export, staff requests, and
hostile names and failures that leave no bag looking complete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import bagit
import pytest
from sqlalchemy import select

from kernel.contracts.exceptions import Conflict, Forbidden, NotFound
from kernel.platform.config import StorageSettings
from kernel.platform.db import insert_new
from kernel.platform.storage import S3Storage
from services.inventory import bags
from services.inventory.models import BagExport, Item, ItemFile, RunningJob
from tests.services.conftest import MANAGER, PDF, STAFF, STUDENT
from tests.services.test_inventory_publication import (  # noqa: F401 - a fixture
    MOSS,
    deposit_item,
    inventory,
)

SITE = ("http://lodge.test", "Lodge University")


def export(inventory, storage, target, item_id) -> dict:
    return bags.export_item(inventory.database, storage, target, item_id, *SITE)


def valid(path: str | Path) -> bagit.Bag:
    bag = bagit.Bag(str(path))
    bag.validate()
    return bag


def test_an_item_exports_as_a_bag_that_validates_and_a_changed_byte_fails_it(
    inventory, storage, tmp_path
):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    done = export(inventory, storage, bags.FolderTarget(tmp_path / "bags"), item_id)
    identifier = inventory.get_item(item_id=item_id)["identifier"]
    location = Path(done["location"])
    assert location == tmp_path / "bags" / bags.bag_name(identifier)
    assert done["payload_oxum"] == f"{len(PDF) + 2}.1" and done["error"] is None
    bag = valid(location)
    assert set(bag.algorithms) == {"sha256", "sha512"}
    assert bag.info["Source-Organization"] == "Lodge University"
    assert bag.info["External-Identifier"] == identifier
    assert bag.info["Payload-Oxum"] == done["payload_oxum"]
    assert sorted(bag.payload_files()) == ["data/thesis.pdf"]
    tags = sorted(p.relative_to(location).as_posix() for p in location.rglob("*") if p.is_file())
    assert tags == [
        "bag-info.txt",
        "bagit.txt",
        "data/thesis.pdf",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "metadata/datacite.xml",
        "metadata/dublin-core.xml",
        "metadata/item.json",
        "metadata/premis.xml",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha512.txt",
    ]
    premis = (location / "metadata/premis.xml").read_text()
    assert "replication" in premis and "ingestion" in premis
    assert "Mosses of the northern fells" in (location / "metadata/datacite.xml").read_text()
    # nothing is left beside the bag
    assert [p.name for p in (tmp_path / "bags").iterdir() if not p.name.endswith(".lock")] == [
        location.name
    ]

    payload = location / "data/thesis.pdf"
    tampered = bytearray(payload.read_bytes())
    tampered[3] ^= 1
    payload.write_bytes(bytes(tampered))
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(location)).validate()


def test_an_export_again_replaces_the_bag_whole(inventory, storage, tmp_path):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    target = bags.FolderTarget(tmp_path)
    first = Path(export(inventory, storage, target, item_id)["location"])
    (first / "stray.txt").write_text("left by someone")
    second = Path(export(inventory, storage, target, item_id)["location"])
    assert second == first and not (second / "stray.txt").exists()
    valid(second)


def test_a_file_that_fails_its_fixity_fails_the_export_and_leaves_no_bag(
    inventory, storage, tmp_path
):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    [stored] = inventory.get_item(item_id=item_id)["representations"][0]["files"]
    key = inventory.get_item_file(item_id=item_id, file_id=stored["id"])["storage_key"]
    storage.save(key, iter([b"not what was deposited"]))
    with pytest.raises(bags.BagError, match="expected"):
        export(inventory, storage, bags.FolderTarget(tmp_path / "bags"), item_id)
    assert [p.name for p in (tmp_path / "bags").iterdir() if not p.name.endswith(".lock")] == []
    status = inventory.bag_export(actor=STAFF, item_id=item_id)
    assert status["exported_at"] is None and "expected" in status["error"]


def test_hostile_file_names_and_identifiers_stay_inside_the_bag(inventory, storage, tmp_path):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    names = ["../../escape.pdf", "/etc/passwd", "a\x01b\x1b[2J\u202e.pdf", "ü" * 250 + ".pdf", ".."]
    with inventory.database.unit_of_work() as uow:
        item = uow.session.get(Item, item_id)
        item.identifier = "../../../../tmp/evil\n/x"
        [original] = item.representations[0].files
        for number, name in enumerate(names):
            uow.session.add(
                ItemFile(
                    id=f"hostile{number}",
                    representation_id=original.representation_id,
                    filename=name,
                    size=original.size,
                    sha256=original.sha256,
                    md5=original.md5,
                    media_type="application/pdf",
                    storage_key=original.storage_key,
                )
            )
    root = tmp_path / "bags"
    location = Path(export(inventory, storage, bags.FolderTarget(root), item_id)["location"])
    assert location.parent == root and location.name == "tmp_evil_x"
    bag = valid(location)
    assert len(list(bag.payload_files())) == len(names) + 1
    assert all(p.resolve().is_relative_to(location) for p in location.rglob("*"))
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == ["tmp_evil_x"]


def test_a_withdrawn_item_exports_as_its_tombstone(inventory, storage, tmp_path):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    inventory.withdraw_item(actor=MANAGER, item_id=item_id, reason="A duplicate of another.")
    location = Path(export(inventory, storage, bags.FolderTarget(tmp_path), item_id)["location"])
    bag = valid(location)
    assert sorted(bag.payload_files()) == ["data/WITHDRAWN.txt"]
    assert "A duplicate of another." in (location / "data/WITHDRAWN.txt").read_text()
    assert "Withdrawn" in bag.info
    assert "deaccession" in (location / "metadata/premis.xml").read_text()


def test_a_bag_on_s3_is_its_files_under_the_prefix_and_validates(
    inventory, storage, tmp_path, s3_endpoint
):
    from tests.support.s3 import REGION

    bucket = s3_endpoint.new_bucket("bags")
    s3 = S3Storage(bucket, client=s3_endpoint.client())
    target = bags.S3Target(s3, "lodge/bags")
    item_id = deposit_item(inventory, storage, 1, MOSS)
    done = export(inventory, storage, target, item_id)
    name = bags.bag_name(inventory.get_item(item_id=item_id)["identifier"])
    assert done["location"] == f"s3://{bucket}/lodge/bags/{name}/"
    keys = s3_endpoint.objects(bucket)
    assert all(key.startswith(f"lodge/bags/{name}/") for key in keys)
    assert f"lodge/bags/{name}/data/thesis.pdf" in keys
    fetched = tmp_path / "fetched"
    for key in keys:
        path = fetched / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(s3.read(key)))
    valid(fetched / "lodge/bags" / name)

    # a target named by the setting reaches the same endpoint
    settings = StorageSettings(s3_endpoint_url=s3_endpoint.url, s3_region=REGION)
    named = bags.target_for(f"s3://{bucket}/lodge/bags", settings)
    assert isinstance(named, bags.S3Target) and named.storage.bucket == bucket


def test_a_cut_short_s3_export_leaves_the_old_bag_without_its_tag_manifests(
    inventory, storage, s3_endpoint
):
    bucket = s3_endpoint.new_bucket("bags")
    s3 = S3Storage(bucket, client=s3_endpoint.client())
    item_id = deposit_item(inventory, storage, 1, MOSS)
    export(inventory, storage, bags.S3Target(s3, "b"), item_id)

    def broken(key):
        raise OSError("storage went away")

    real_read = storage.read
    storage.read = broken
    try:
        with pytest.raises(OSError):
            export(inventory, storage, bags.S3Target(s3, "b"), item_id)
    finally:
        storage.read = real_read
    assert not [key for key in s3_endpoint.objects(bucket) if "tagmanifest" in key]
    export(inventory, storage, bags.S3Target(s3, "b"), item_id)
    assert len([key for key in s3_endpoint.objects(bucket) if "tagmanifest" in key]) == 2


def run(inventory, storage, target, scheduled=True, batch_size=20) -> dict:
    return bags.run(inventory.database, storage, target, batch_size, scheduled, *SITE)


def age(inventory) -> None:
    """Time passes: every item's datestamp and every export's record of it move a minute
    back (a change in the second an export reads the item counts as after it, see below)."""
    minute = timedelta(minutes=1)
    with inventory.database.unit_of_work() as uow:
        for item in uow.session.scalars(select(Item)):
            item.datestamp -= minute
        for export in uow.session.scalars(select(BagExport)):
            if export.item_datestamp is not None:
                export.item_datestamp -= minute


def test_the_scheduled_export_takes_new_and_changed_items_only(inventory, storage, tmp_path):
    target = bags.FolderTarget(tmp_path)
    first = deposit_item(inventory, storage, 1, MOSS)
    second = deposit_item(inventory, storage, 2, {**MOSS, "title": "Lichens"})
    age(inventory)
    assert run(inventory, storage, target, scheduled=False) == {"exported": 0, "failed": 0}
    assert run(inventory, storage, target, batch_size=1) == {"exported": 1, "failed": 0}
    assert run(inventory, storage, target) == {"exported": 1, "failed": 0}
    assert run(inventory, storage, target) == {"exported": 0, "failed": 0}
    exported = inventory.bag_export(actor=STAFF, item_id=first)["exported_at"]

    third = deposit_item(inventory, storage, 3, {**MOSS, "title": "Ferns"})
    inventory.withdraw_item(actor=MANAGER, item_id=second, reason="Withdrawn by request.")
    age(inventory)
    assert run(inventory, storage, target) == {"exported": 2, "failed": 0}
    assert inventory.bag_export(actor=STAFF, item_id=first)["exported_at"] == exported
    for item_id in (second, third):
        status = inventory.bag_export(actor=STAFF, item_id=item_id)
        valid(status["location"])
    assert run(inventory, storage, target) == {"exported": 0, "failed": 0}


def test_an_item_that_changed_in_the_second_it_was_exported_is_exported_again(
    inventory, storage, tmp_path
):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    with inventory.database.unit_of_work() as uow:
        uow.session.get(Item, item_id).datestamp = datetime.now(UTC).replace(microsecond=0)
    export(inventory, storage, bags.FolderTarget(tmp_path), item_id)
    with inventory.database.reading() as session:
        assert bags.due(session, 10, scheduled=True) == [item_id]


def test_an_item_that_keeps_failing_never_holds_up_the_rest(inventory, storage, tmp_path):
    target = bags.FolderTarget(tmp_path)
    broken = deposit_item(inventory, storage, 1, MOSS)
    age(inventory)  # the older, so the first in line
    fine = deposit_item(inventory, storage, 2, {**MOSS, "title": "Lichens"})
    age(inventory)
    [stored] = inventory.get_item(item_id=broken)["representations"][0]["files"]
    storage.delete(inventory.get_item_file(item_id=broken, file_id=stored["id"])["storage_key"])
    assert run(inventory, storage, target, batch_size=1) == {"exported": 0, "failed": 1}
    assert run(inventory, storage, target, batch_size=1) == {"exported": 1, "failed": 0}
    assert inventory.bag_export(actor=STAFF, item_id=fine)["exported_at"] is not None
    assert inventory.bag_export(actor=STAFF, item_id=broken)["error"]


def test_staff_see_exports_and_managers_ask_for_one_that_the_next_run_makes(
    inventory, storage, tmp_path
):
    target = bags.FolderTarget(tmp_path)
    item_id = deposit_item(inventory, storage, 1, MOSS)
    age(inventory)
    assert inventory.bag_export(actor=STAFF, item_id=item_id)["exported_at"] is None
    with pytest.raises(Forbidden):
        inventory.bag_export(actor=STUDENT, item_id=item_id)
    with pytest.raises(Forbidden):
        inventory.request_bag_export(actor=STAFF, item_id=item_id)
    with pytest.raises(NotFound):
        inventory.request_bag_export(actor=MANAGER, item_id="../../no-such-item")
    requested = inventory.request_bag_export(actor=MANAGER, item_id=item_id)
    assert requested["requested_by"] == MANAGER["name"] and requested["requested_at"]
    # asked for, it is exported even with the schedule off, and then not again
    assert run(inventory, storage, target, scheduled=False) == {"exported": 1, "failed": 0}
    status = inventory.bag_export(actor=STAFF, item_id=item_id)
    assert status["requested_at"] is None and status["exported_at"]
    valid(status["location"])
    assert run(inventory, storage, target, scheduled=False) == {"exported": 0, "failed": 0}


def test_one_export_run_at_a_time_and_a_dead_ones_lock_is_taken_over(inventory, storage, tmp_path):
    target = bags.FolderTarget(tmp_path)
    deposit_item(inventory, storage, 1, MOSS)
    with inventory.database.unit_of_work() as uow:
        insert_new(uow.session, RunningJob, name=bags.EXPORT_JOB, started_at=datetime.now(UTC))
    with pytest.raises(Conflict):
        run(inventory, storage, target)
    assert inventory.export_bags() is None  # the timer skips its tick
    with inventory.database.unit_of_work() as uow:
        job = uow.session.scalar(select(RunningJob).where(RunningJob.name == bags.EXPORT_JOB))
        job.started_at = datetime.now(UTC) - bags.STALE_LOCK * 2
    assert run(inventory, storage, target) == {"exported": 1, "failed": 0}
    with inventory.database.reading() as session:
        assert session.scalar(select(RunningJob)) is None


def test_a_run_whose_lock_was_taken_over_stops_after_its_item_and_leaves_the_lock(
    inventory, storage, tmp_path, monkeypatch
):
    """A run slower than STALE_LOCK per item was taken for dead: the run that took the lock
    over goes on, and this one stops rather than export beside it."""
    deposit_item(inventory, storage, 1, MOSS)
    deposit_item(inventory, storage, 2, {**MOSS, "title": "Lichens"})
    export_item, other = bags.export_item, datetime.now(UTC) + timedelta(days=1)

    def slow_export(database, *args):
        done = export_item(database, *args)
        with database.unit_of_work() as uow:
            uow.session.scalar(select(RunningJob)).started_at = other
        return done

    monkeypatch.setattr(bags, "export_item", slow_export)
    assert run(inventory, storage, bags.FolderTarget(tmp_path)) == {"exported": 1, "failed": 0}
    with inventory.database.reading() as session:
        assert session.scalar(select(RunningJob.started_at)) == other


def test_an_item_is_found_by_its_id_or_identifier_and_nothing_else(inventory, storage):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    identifier = inventory.get_item(item_id=item_id)["identifier"]
    with inventory.database.reading() as session:
        assert bags.find_item(session, item_id) == item_id
        assert bags.find_item(session, identifier) == item_id
        for other in ("../" + item_id, "x" * 5000, "", "\x00"):
            with pytest.raises(NotFound):
                bags.find_item(session, other)
