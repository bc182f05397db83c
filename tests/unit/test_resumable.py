"""The resumable-upload area on its own: offsets, incremental and re-read hashing, limits,
chunk checksums and expiry, in a temporary folder."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time

import eventlet
import pytest

from gateway.files import resumable
from gateway.files.resumable import ChecksumMismatch, Gone, UploadArea
from kernel.contracts.exceptions import Conflict, NotFound, QuotaExceeded, TooLarge
from kernel.platform import storage

DATA = b"%PDF-1.4\n" + bytes(range(256)) * 100
ROOM = {"max_uploads": 100, "staged_room": 10**9}  # limits no test here reaches


def uploads_in(area):
    """The upload files (not the owners' lock files)."""
    return sorted(p.name for p in area.directory.iterdir() if p.is_file())


@pytest.fixture
def area(tmp_path):
    return UploadArea(tmp_path / "uploads", expiry_seconds=3600)


def digests_of(area, upload_id):
    digests = area.digests(area.get(upload_id, "dep", "me"))
    return digests.size, digests.sha256, digests.md5


RIGHT = (len(DATA), hashlib.sha256(DATA).hexdigest(), hashlib.md5(DATA).hexdigest())


@pytest.fixture
def no_reading_back(monkeypatch):
    """The finished upload must not be read back: its digests come from the saved state."""

    def read_file(path):
        raise AssertionError(f"{path} was read back")

    monkeypatch.setattr(resumable, "read_file", read_file)


def test_an_upload_continued_by_another_process_goes_on_from_the_saved_hash_state(
    area, no_reading_back
):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    area.append(upload, 0, iter([DATA[:1000]]), None)
    other_process = UploadArea(area.directory, 3600)
    upload = other_process.get(upload.id, "dep", "me")
    assert other_process.offset(upload) == 1000
    assert other_process.append(upload, 1000, iter([DATA[1000:]]), None) == len(DATA)
    assert digests_of(other_process, upload.id) == RIGHT


def test_chunks_alternating_between_gateway_processes_give_the_right_digests(area, no_reading_back):
    """Two gateway workers take turns; neither reads the file back, and the digests of the
    whole come out right from either."""
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    other_process = UploadArea(area.directory, 3600)
    pieces = [DATA[start : start + 4001] for start in range(0, len(DATA), 4001)]
    offset = 0
    for number, piece in enumerate(pieces):
        worker = (area, other_process)[number % 2]
        offset = worker.append(worker.get(upload.id, "dep", "me"), offset, iter([piece]), None)
    assert offset == len(DATA)
    for worker in (area, other_process):
        assert digests_of(worker, upload.id) == RIGHT


def test_a_hash_state_another_build_saved_is_not_used_and_the_file_is_read_back(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    area.append(upload, 0, iter([DATA[:1000]]), None)
    info = area.directory / f"{upload.id}.json"
    record = json.loads(info.read_text())
    record["hash_state"]["build"] = "another OpenSSL/big"
    info.write_text(json.dumps(record))
    area.append(area.get(upload.id, "dep", "me"), 1000, iter([DATA[1000:]]), None)
    assert area.get(upload.id, "dep", "me").hash_state is None
    assert digests_of(area, upload.id) == RIGHT


def test_a_large_patch_is_written_whole_past_the_write_behind_windows(
    area, monkeypatch, no_reading_back
):
    monkeypatch.setattr(storage, "WRITE_BEHIND", 1000)
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    pieces = [DATA[start : start + 777] for start in range(0, len(DATA), 777)]
    assert area.append(upload, 0, iter(pieces), None) == len(DATA)
    assert area.part_path(upload.id).read_bytes() == DATA
    assert digests_of(area, upload.id) == RIGHT


def test_a_wrong_offset_is_a_conflict_and_changes_nothing(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    area.append(upload, 0, iter([DATA[:10]]), None)
    with pytest.raises(Conflict):
        area.append(upload, 5, iter([DATA[5:]]), None)
    assert area.offset(upload) == 10


def test_bytes_past_the_declared_length_keep_none_of_that_patch(area, no_reading_back):
    upload = area.create("dep", "me", "a.pdf", 100, {}, **ROOM)
    area.append(upload, 0, iter([DATA[:40]]), None)
    with pytest.raises(TooLarge):
        area.append(upload, 40, iter([DATA[40:90], DATA[90:120]]), None)
    assert area.offset(upload) == 40
    # the hash state saved at byte 40 still fits: the upload goes on from it
    assert area.append(area.get(upload.id, "dep", "me"), 40, iter([DATA[40:100]]), None) == 100
    assert digests_of(area, upload.id)[1] == hashlib.sha256(DATA[:100]).hexdigest()


def test_a_damaged_chunk_keeps_none_of_it_and_a_good_one_goes_on(area, no_reading_back):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    area.append(upload, 0, iter([DATA[:100]]), None)
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    with pytest.raises(ChecksumMismatch):
        area.append(upload, 100, iter([DATA[100:]]), wrong)
    assert area.offset(upload) == 100
    right = "md5 " + base64.b64encode(hashlib.md5(DATA[100:]).digest()).decode()
    assert area.append(upload, 100, iter([DATA[100:]]), right) == len(DATA)
    assert digests_of(area, upload.id) == RIGHT


def test_a_dropped_connection_keeps_what_arrived(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)

    def cut_off():
        yield DATA[:700]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        area.append(upload, 0, cut_off(), None)
    assert area.offset(upload) == 700
    area.append(upload, 700, iter([DATA[700:]]), None)
    # the bytes of the cut-off PATCH were not hashed: the finished upload is read back
    assert digests_of(area, upload.id) == RIGHT


def test_asking_after_an_upload_waits_for_a_patch_still_writing(area):
    """A client whose connection dropped asks where to go on while the server's side of its
    PATCH still writes: the answer waits for that write, so the resumed PATCH is not
    refused as busy."""
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    asked = {}

    def ask():
        asked["offset"] = area.offset(area.settled(upload.id, "dep", "me"))

    with area.locked(upload) as handle:
        handle.write(DATA[:100])
        handle.flush()
        asking = threading.Thread(target=ask)
        asking.start()
        asking.join(timeout=0.5)
        assert asking.is_alive()  # waiting for the writer
        handle.write(DATA[100:300])
        handle.flush()
    asking.join(timeout=30)
    assert asked == {"offset": 300}
    assert area.offset(area.settled(upload.id, "dep", "me")) == 300  # nobody writing: at once


def test_the_patch_that_completes_an_upload_holds_it_until_its_file_is_registered(area):
    """Asked after meanwhile, the upload is answered with its file, not as complete bytes
    without one."""
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    asked = {}

    def ask():
        asked["upload"] = area.settled(upload.id, "dep", "me")

    def register():
        asking = threading.Thread(target=ask)
        asking.start()
        asking.join(timeout=0.5)
        assert asking.is_alive()  # the PATCH still holds the upload
        area.finished(upload, {"id": "file1"}, None)
        asked["thread"] = asking

    assert area.append(upload, 0, iter([DATA]), None, complete=register) == len(DATA)
    asked.pop("thread").join(timeout=30)
    assert asked["upload"].file == {"id": "file1"}
    assert area.offset(asked["upload"]) == len(DATA)


def test_uploads_are_their_owners_and_expire(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    with pytest.raises(NotFound):
        area.get(upload.id, "dep", "someone else")
    with pytest.raises(NotFound):
        area.get(upload.id, "other deposit", "me")
    with pytest.raises(NotFound):
        area.get("../../etc/passwd", "dep", "me")
    assert area.expire(time.time()) == []
    assert area.expire(time.time() + 3601) == [upload.id]
    assert uploads_in(area) == []
    late = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    late.expires_at = time.time() - 1
    area._write_info(late)
    with pytest.raises(Gone):
        area.get(late.id, "dep", "me")
    assert uploads_in(area) == []


# --- limits per owner --------------------------------------------------------------------


def test_an_owner_may_hold_only_so_many_unfinished_uploads(area):
    first = area.create("dep", "me", "a.pdf", 10, {}, max_uploads=2, staged_room=100)
    area.create("dep", "me", "b.pdf", 10, {}, max_uploads=2, staged_room=100)
    with pytest.raises(QuotaExceeded) as refused:
        area.create("dep", "me", "c.pdf", 10, {}, max_uploads=2, staged_room=100)
    assert refused.value.fields == {"uploads": ["2 of 2 used"]}
    # someone else's uploads are theirs to count
    area.create("dep", "you", "a.pdf", 10, {}, max_uploads=2, staged_room=100)
    # a finished one no longer counts, nor does an expired one
    area.finished(first, {"id": "f"}, None)
    area.create("dep", "me", "c.pdf", 10, {}, max_uploads=2, staged_room=100)
    assert sorted(u.filename for u in area.unfinished("me")) == ["b.pdf", "c.pdf"]


def test_unfinished_uploads_reserve_their_declared_length_of_the_staged_room(area):
    area.create("dep", "me", "a.pdf", 60, {}, max_uploads=10, staged_room=100)
    with pytest.raises(TooLarge) as refused:
        area.create("dep", "me", "b.pdf", 41, {}, max_uploads=10, staged_room=100)
    assert refused.value.fields == {"staged_bytes": ["40 bytes left"]}
    assert area.create("dep", "me", "b.pdf", 40, {}, max_uploads=10, staged_room=100)


def test_parallel_creations_never_squeeze_past_the_limit(tmp_path):
    """Two requests at once, as two gateway workers would send them. Each waits, after
    counting, for the other to have counted too: without the owner's lock both would see
    room for one and both create; with it the second counts only after the first created.
    Real threads, as gunicorn's: a green one would block the hub on the lock."""
    threading = eventlet.patcher.original("threading")
    both_counted = threading.Barrier(2, timeout=2)

    class Racing(UploadArea):
        def unfinished(self, owner_id):
            found = super().unfinished(owner_id)
            with contextlib.suppress(threading.BrokenBarrierError):
                both_counted.wait()
            return found

    area = Racing(tmp_path / "uploads", expiry_seconds=3600)
    outcomes = []

    def create(number):
        try:
            area.create("dep", "me", f"{number}.pdf", 10, {}, max_uploads=1, staged_room=1000)
            outcomes.append("created")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused"]
    assert len(area.unfinished("me")) == 1


def test_a_patch_to_an_upload_swept_meanwhile_is_not_found_and_writes_no_record(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {}, **ROOM)
    (area.directory / f"{upload.id}.json").unlink()  # expired and swept after `get`
    with pytest.raises(NotFound):
        area.append(upload, 0, iter([DATA]), None)
    assert not (area.directory / f"{upload.id}.json").exists()
