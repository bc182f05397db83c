"""Preservation export on a running Lodge: `lodge export-bag` writes an archived item as a
bag that `bagit` validates, to a folder and to the S3 stand-in; a manager's request is
exported by inventory's timer; an export killed mid-file leaves nothing that looks like a
bag, and the next one finishes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import bagit
import pytest

from services.inventory.bags import bag_name
from services.inventory.records import permanent_key
from tests.e2e.test_lifecycles import make_archived_work, pdf_bytes, student  # noqa: F401
from tests.support.system import REPO_ROOT, expect, poll_until, signed_in


def valid(path: Path | str) -> bagit.Bag:
    bag = bagit.Bag(str(path))
    bag.validate()
    return bag


def export_bag(lodge_system, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [lodge_system.python, "-m", "lodge", "export-bag", *args],
        cwd=REPO_ROOT,
        env={**lodge_system.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def printed(result: subprocess.CompletedProcess) -> tuple[str, str]:
    """(where the bag went, its Payload-Oxum) as `lodge export-bag` prints them."""
    assert result.returncode == 0, result.stderr[-2000:]
    location, oxum = result.stdout.strip().splitlines()
    assert oxum.startswith("Payload-Oxum: "), result.stdout
    return location, oxum.removeprefix("Payload-Oxum: ")


@pytest.fixture
def archived(lodge_system, student):
    return make_archived_work(lodge_system, student, "bagged")


def test_lodge_export_bag_writes_a_bag_that_validates_and_fails_once_tampered(
    lodge_system, student, archived, tmp_path
):
    item = student.get(f"/api/v1/items/{archived['item_id']}").json()
    [stored] = item["representations"][0]["files"]
    location, oxum = printed(export_bag(lodge_system, item["identifier"], "--to", str(tmp_path)))
    assert Path(location) == tmp_path / bag_name(item["identifier"])
    assert oxum == f"{stored['size']}.1"
    bag = valid(location)
    # the e2e Lodge registers DOIs: the bag names the item by both
    assert bag.info["External-Identifier"] == [item["identifier"], f"doi:{item['doi']}"]
    assert bag.info["Payload-Oxum"] == oxum
    assert sorted(bag.payload_files()) == ["data/work.pdf"]

    # by its id, to the default target: LODGE_BAG_TARGET, under the data folder
    location, _ = printed(export_bag(lodge_system, item["id"]))
    assert Path(location).parent == lodge_system.data_dir / "bags"
    payload = Path(location) / "data/work.pdf"
    payload.write_bytes(payload.read_bytes()[:-1] + b"!")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(location).validate()


def test_lodge_export_bag_writes_to_the_s3_stand_in(
    lodge_system, student, archived, tmp_path, s3_endpoint
):
    bucket = s3_endpoint.new_bucket("preservation")
    env = {
        key: value
        for key, value in s3_endpoint.lodge_env(bucket).items()
        if key not in ("LODGE_STORAGE_BACKEND", "LODGE_S3_BUCKET")  # the files stay on disk
    }
    identifier = archived["item_identifier"]
    location, oxum = printed(
        export_bag(lodge_system, identifier, "--to", f"s3://{bucket}/lodge/bags", env=env)
    )
    prefix = f"lodge/bags/{bag_name(identifier)}/"
    assert location == f"s3://{bucket}/{prefix}"
    keys = s3_endpoint.objects(bucket)
    assert keys and all(key.startswith(prefix) for key in keys)
    client = s3_endpoint.client()
    for key in keys:
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(path))
    assert valid(tmp_path / prefix).info["Payload-Oxum"] == oxum


@pytest.mark.parametrize(
    "args, message",
    [
        (["../../../etc/passwd"], "No item has this"),
        (["x" * 5000], "No item has this"),
        (["ark:/99999/\x1b[31mred"], "No item has this"),
        (["anything", "--to", "s3://Bad Bucket/x"], "--to"),
        (["anything", "--to", "s3://bucket/../../x"], "--to"),
    ],
)
def test_lodge_export_bag_refuses_what_names_no_item_or_no_place(lodge_system, args, message):
    result = export_bag(lodge_system, *args)
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_managers_request_is_exported_by_inventorys_timer(lodge_system, archived):
    item_id = archived["item_id"]
    manager, staff = lodge_system.client("manager"), lodge_system.client("staff")
    requested = expect(manager.post(f"/api/v1/items/{item_id}/bag"), 202)
    assert requested["requested_by"] == "Morgan Manager"
    expect(staff.post(f"/api/v1/items/{item_id}/bag"), 403)
    for hostile in ("no-such-item", "%00", "x" * 3000, "..%2F..%2Fetc", "%E2%80%AE%0A"):
        for ask in (staff.get, manager.post):
            answer = ask(f"/api/v1/items/{hostile}/bag")
            assert 400 <= answer.status_code < 500 and "error" in answer.json(), answer.text
    done = poll_until(
        lambda: (s := expect(staff.get(f"/api/v1/items/{item_id}/bag"), 200))["exported_at"] and s,
        description="the requested export",
    )
    assert done["requested_at"] is None and done["error"] is None
    assert valid(done["location"]).info["Payload-Oxum"] == done["payload_oxum"]
    page = signed_in(lodge_system, "manager").get(f"{lodge_system.base_url}/items/{item_id}")
    assert "Preservation export (staff)" in page.text and done["location"] in page.text


def test_an_export_killed_mid_file_leaves_no_complete_bag_and_the_next_one_finishes(
    lodge_system, student, tmp_path
):
    """The item's file is swapped for a named pipe, so the export blocks mid-file for as long
    as the test likes: killed there, it has written part of the file and no bag."""
    content = pdf_bytes("killed export") * 60_000  # some MiB: more than one chunk
    archived = make_archived_work(lodge_system, student, "killed export", content)
    item = student.get(f"/api/v1/items/{archived['item_id']}").json()
    [stored] = item["representations"][0]["files"]
    path = lodge_system.data_dir / "storage" / permanent_key(item["deposit_id"], stored["id"])
    name = bag_name(item["identifier"])
    path.unlink()
    os.mkfifo(path)
    try:
        export = subprocess.Popen(
            [lodge_system.python, "-m", "lodge", "export-bag", item["id"], "--to", str(tmp_path)],
            cwd=REPO_ROOT,
            env=lodge_system.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

        def reader_opened() -> int | None:
            assert export.poll() is None, export.stderr.read().decode()[-2000:]
            try:  # without a reader a non-blocking open for writing fails
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return None

        pipe = poll_until(reader_opened, timeout=60, description="the export opening the file")
        os.set_blocking(pipe, True)
        os.write(pipe, content[: 2 * 1024 * 1024])

        def partial_payload() -> bool:
            return any(
                found.stat().st_size >= 1024 * 1024
                for found in tmp_path.glob(f".{name}.partial-*/data/work.pdf")
            )

        poll_until(partial_payload, description="the export writing part of the file")
        export.send_signal(signal.SIGKILL)
        export.wait(timeout=30)
        with contextlib.suppress(BrokenPipeError):
            os.close(pipe)
    finally:
        path.unlink()
        path.write_bytes(content)

    assert not (tmp_path / name).exists()
    assert list(tmp_path.rglob("tagmanifest-*.txt")) == []
    location, oxum = printed(export_bag(lodge_system, item["id"], "--to", str(tmp_path)))
    assert oxum == f"{len(content)}.1"
    valid(location)
    # the next export cleared what the killed one left
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [name]
