"""The resumable-upload area on its own: offsets, incremental and re-read hashing, limits,
chunk checksums and expiry, in a temporary folder."""
from __future__ import annotations

import base64
import hashlib
import time

import pytest

from gateway.resumable import ChecksumMismatch, Gone, UploadArea
from services.common.exceptions import Conflict, NotFound, TooLarge

DATA = b"%PDF-1.4\n" + bytes(range(256)) * 100


@pytest.fixture
def area(tmp_path):
    return UploadArea(tmp_path / "uploads", expiry_seconds=3600)


def test_an_upload_continued_by_another_process_is_rehashed_from_what_is_staged(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {})
    area.append(upload, 0, iter([DATA[:1000]]), None)
    other_process = UploadArea(area.directory, 3600)   # no hash state of its own
    upload = other_process.get(upload.id, "dep", "me")
    assert other_process.offset(upload) == 1000
    assert other_process.append(upload, 1000, iter([DATA[1000:]]), None) == len(DATA)
    digests = other_process.digests(upload)
    assert (digests.size, digests.sha256, digests.md5) == (
        len(DATA), hashlib.sha256(DATA).hexdigest(), hashlib.md5(DATA).hexdigest())


def test_chunks_alternating_between_gateway_processes_give_the_right_digests(area):
    """Two gateway workers take turns; neither re-reads the file at each PATCH, and the
    digests of the whole come out right from either."""
    upload = area.create("dep", "me", "a.pdf", len(DATA), {})
    other_process = UploadArea(area.directory, 3600)
    pieces = [DATA[start:start + 4000] for start in range(0, len(DATA), 4000)]
    offset = 0
    for number, piece in enumerate(pieces):
        worker = (area, other_process)[number % 2]
        offset = worker.append(worker.get(upload.id, "dep", "me"), offset, iter([piece]), None)
    assert offset == len(DATA)
    for worker in (area, other_process):
        digests = worker.digests(worker.get(upload.id, "dep", "me"))
        assert (digests.size, digests.sha256, digests.md5) == (
            len(DATA), hashlib.sha256(DATA).hexdigest(), hashlib.md5(DATA).hexdigest())


def test_a_wrong_offset_is_a_conflict_and_changes_nothing(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {})
    area.append(upload, 0, iter([DATA[:10]]), None)
    with pytest.raises(Conflict):
        area.append(upload, 5, iter([DATA[5:]]), None)
    assert area.offset(upload) == 10


def test_bytes_past_the_declared_length_keep_none_of_that_patch(area):
    upload = area.create("dep", "me", "a.pdf", 100, {})
    area.append(upload, 0, iter([DATA[:40]]), None)
    with pytest.raises(TooLarge):
        area.append(upload, 40, iter([DATA[40:90], DATA[90:120]]), None)
    assert area.offset(upload) == 40


def test_a_damaged_chunk_keeps_none_of_it_and_a_good_one_goes_on(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {})
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    with pytest.raises(ChecksumMismatch):
        area.append(upload, 0, iter([DATA]), wrong)
    assert area.offset(upload) == 0
    right = "md5 " + base64.b64encode(hashlib.md5(DATA).digest()).decode()
    assert area.append(upload, 0, iter([DATA]), right) == len(DATA)


def test_a_dropped_connection_keeps_what_arrived(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {})

    def cut_off():
        yield DATA[:700]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        area.append(upload, 0, cut_off(), None)
    assert area.offset(upload) == 700
    area.append(upload, 700, iter([DATA[700:]]), None)
    assert area.digests(upload).sha256 == hashlib.sha256(DATA).hexdigest()


def test_uploads_are_their_owners_and_expire(area):
    upload = area.create("dep", "me", "a.pdf", len(DATA), {})
    with pytest.raises(NotFound):
        area.get(upload.id, "dep", "someone else")
    with pytest.raises(NotFound):
        area.get(upload.id, "other deposit", "me")
    with pytest.raises(NotFound):
        area.get("../../etc/passwd", "dep", "me")
    assert area.expire(time.time()) == []
    assert area.expire(time.time() + 3601) == [upload.id]
    assert list(area.directory.iterdir()) == []
    late = area.create("dep", "me", "a.pdf", len(DATA), {})
    late.expires_at = time.time() - 1
    area._write_info(late)
    with pytest.raises(Gone):
        area.get(late.id, "dep", "me")
    assert list(area.directory.iterdir()) == []
