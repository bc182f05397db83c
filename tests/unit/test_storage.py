"""Both storage backends, one behaviour: local disk in a temporary folder, and S3 on a real
endpoint (moto_server) in a bucket of the test's own. Checksums, limits, key safety, copy,
digest, and that nothing partial is ever visible."""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import threading
import time

import pytest

from kernel.contracts.exceptions import TooLarge
from kernel.platform import storage as storage_module
from kernel.platform.storage import (
    LocalStorage,
    S3Storage,
    StoredObject,
    WriteBehind,
    fan_out,
    new_key,
)

CONTENT = [b"first chunk of a thesis\n", b"\x00\x01\x02" * 1000, b"", b"last chunk\n"]
WHOLE = b"".join(CONTENT)
PART = 5 * 1024 * 1024  # S3's smallest multipart part


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    s3 = request.getfixturevalue("s3_endpoint")
    storage = S3Storage(s3.new_bucket("storage"), part_size=PART, client=s3.client())
    storage.endpoint = s3
    return storage


def everything_in(storage):
    """Every object the backend holds, partial ones included (hidden files on disk,
    unfinished multipart uploads on S3)."""
    if isinstance(storage, LocalStorage):
        return sorted(
            str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file()
        )
    unfinished = [
        f"unfinished:{key}"
        for key in storage.endpoint.multipart_uploads_in_progress(storage.bucket)
    ]
    return storage.endpoint.objects(storage.bucket) + unfinished


def tamper(storage, key, data):
    if isinstance(storage, LocalStorage):
        storage.path(key).write_bytes(data)
    else:
        storage.client.put_object(Bucket=storage.bucket, Key=key, Body=data)


def large_content(parts=2, tail=12345):
    """Enough bytes for a multipart upload, in uneven chunks."""
    block = os.urandom(1024 * 1024 + 7)
    total = parts * PART + tail
    chunks, sent = [], 0
    while sent < total:
        chunk = block[: min(len(block), total - sent)]
        chunks.append(chunk)
        sent += len(chunk)
    return chunks


def test_save_computes_size_and_checksums(storage):
    stored = storage.save("staging/dep1/abc", iter(CONTENT))
    assert stored == StoredObject(
        key="staging/dep1/abc",
        size=len(WHOLE),
        sha256=hashlib.sha256(WHOLE).hexdigest(),
        md5=hashlib.md5(WHOLE).hexdigest(),
    )


def test_saved_file_holds_exactly_the_chunks(storage):
    storage.save("staging/dep1/abc", iter(CONTENT))
    assert b"".join(storage.read("staging/dep1/abc")) == WHOLE
    assert storage.head("staging/dep1/abc", 5) == WHOLE[:5]
    assert storage.size("staging/dep1/abc") == len(WHOLE)
    assert storage.exists("staging/dep1/abc")
    # no temporary file stays behind after a successful save
    assert everything_in(storage) == ["staging/dep1/abc"]


def test_save_of_an_empty_stream_makes_an_empty_object(storage):
    stored = storage.save("staging/empty", iter([]))
    assert stored.size == 0
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert storage.exists("staging/empty")


def test_save_up_to_max_size_succeeds(storage):
    stored = storage.save("staging/fits", iter(CONTENT), max_size=len(WHOLE))
    assert stored.size == len(WHOLE)


def test_save_over_max_size_raises_and_leaves_nothing_behind(storage):
    with pytest.raises(TooLarge) as err:
        storage.save("staging/dep1/big", iter(CONTENT), max_size=len(WHOLE) - 1)
    assert err.value.code == "too_large"
    assert "file" in err.value.fields
    assert not storage.exists("staging/dep1/big")
    assert everything_in(storage) == []  # no file and no .partial


def test_a_failing_upload_leaves_nothing_behind(storage):
    def broken_upload():
        yield b"some bytes"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        storage.save("staging/dep1/broken", broken_upload())
    assert everything_in(storage) == []


@pytest.mark.parametrize("sizes", [[1], [7, 1, 0, 3], [1024 * 1024 + 3, 5, 2 * 1024 * 1024 - 1]])
def test_hashing_beside_the_write_is_right_across_chunk_boundaries_and_odd_sizes(storage, sizes):
    data = os.urandom(sum(sizes))
    chunks = [data[sum(sizes[:n]) : sum(sizes[: n + 1])] for n in range(len(sizes))]
    stored = storage.save("staging/odd", iter(chunks))
    assert (stored.size, stored.sha256, stored.md5) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
    )
    assert b"".join(storage.read("staging/odd")) == data
    assert storage.digest("staging/odd") == stored


def test_a_failing_write_stops_the_reading_and_leaves_nothing(tmp_path, monkeypatch):
    """The disk fills half way: the save fails with the write's error, stops taking chunks
    from an endless stream, and no file or partial file stays."""
    storage = LocalStorage(tmp_path / "store")
    real_pwrite, writes = os.pwrite, itertools.count()

    def pwrite(fd, data, offset):
        if next(writes) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(OSError) as err:
        storage.save("staging/dep1/full", itertools.repeat(b"x" * 4096))
    assert err.value.errno == errno.ENOSPC
    assert everything_in(storage) == []


def test_a_client_gone_mid_stream_leaves_nothing_on_a_large_save(storage):
    def cut_off():
        yield from large_content(parts=1, tail=3)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        storage.save("staging/dep1/cut", cut_off())
    assert everything_in(storage) == []


def test_a_stream_over_the_limit_mid_chunk_leaves_nothing(storage):
    with pytest.raises(TooLarge):
        storage.save("staging/dep1/over", iter([b"a" * 10, b"b" * 10]), max_size=15)
    assert everything_in(storage) == []


def test_when_reading_fails_every_sink_has_seen_the_same_chunks():
    seen: dict[str, list[bytes]] = {"fast": [], "slow": []}
    release = threading.Event()

    def slow(chunk):
        release.wait()
        seen["slow"].append(chunk)

    def chunks():
        yield from (b"1", b"2", b"3")
        release.set()
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        fan_out(chunks(), [seen["fast"].append, slow])
    assert seen["fast"] == seen["slow"] == [b"1", b"2", b"3"]


def test_a_sink_failure_is_raised_in_the_reading_thread():
    def broken(chunk):
        raise ValueError("sink broke")

    with pytest.raises(ValueError, match="sink broke"):
        fan_out(itertools.repeat(b"x"), [broken, lambda chunk: None])


def test_write_behind_writes_every_byte_at_its_offset(tmp_path, monkeypatch):
    """Past the write-behind window the written range is handed back to the kernel; the
    file still holds every byte, from the offset it was started at."""
    monkeypatch.setattr(storage_module, "WRITE_BEHIND", 10)
    advised = []
    monkeypatch.setattr(os, "posix_fadvise", lambda *args: advised.append(args[1:3]))
    path = tmp_path / "part"
    path.write_bytes(b"head")
    with open(path, "r+b") as handle:
        writer = WriteBehind(handle.fileno(), 4)
        for piece in (b"0123456", b"789abcdef", b"ghijklmnopqrstuvwxyz"):
            writer.write(piece)
        assert writer.offset == 40
    assert path.read_bytes() == b"head0123456789abcdefghijklmnopqrstuvwxyz"
    assert advised == [(0, 20), (10, 30)]


def test_a_failed_overwrite_keeps_the_old_object(storage):
    storage.save("staging/obj", iter([b"old"]))
    with pytest.raises(TooLarge):
        storage.save("staging/obj", iter([b"much newer content"]), max_size=5)
    assert b"".join(storage.read("staging/obj")) == b"old"
    assert everything_in(storage) == ["staging/obj"]


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "staging/../../outside",
        "staging/..",
        "staging/dep/../x",
        "/etc/passwd",
        "/tmp/x",
        "",
        "staging//x",
        "staging/",
        ".hidden",
        "a\\b",
        "staging/x y",
    ],
)
def test_unsafe_keys_are_refused(storage, key):
    for use in (
        lambda: storage.save(key, iter([b"x"])),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.head(key),
    ):
        with pytest.raises(ValueError, match="not a storage key"):
            use()
    assert everything_in(storage) == []


def test_refused_keys_write_nothing_outside_the_root(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(ValueError):
        storage.save("../escaped", iter([b"x"]))
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("key", ["staging/abc", "permanent/item-1/v1.pdf", "a_b-c/d.e.f"])
def test_generated_style_keys_are_accepted(storage, key):
    storage.save(key, iter([b"x"]))
    assert storage.exists(key) and storage.size(key) == 1


def test_new_key_is_a_valid_unique_key(storage):
    first, second = new_key("staging", "dep1"), new_key("staging", "dep1")
    assert first.startswith("staging/dep1/")
    assert first != second
    storage.save(first, iter([b"x"]))
    assert storage.exists(first)


def test_copy_makes_an_independent_identical_object(storage):
    source = storage.save("staging/src", iter(CONTENT))
    copied = storage.copy("staging/src", "permanent/item1/file")
    assert copied == StoredObject("permanent/item1/file", source.size, source.sha256, source.md5)
    storage.delete("staging/src")
    assert not storage.exists("staging/src")
    assert b"".join(storage.read("permanent/item1/file")) == WHOLE


def test_digest_recomputes_from_disk(storage):
    stored = storage.save("staging/obj", iter(CONTENT))
    assert storage.digest("staging/obj") == stored
    # a change in storage shows up as a different checksum
    tamper(storage, "staging/obj", b"tampered")
    changed = storage.digest("staging/obj")
    assert changed.sha256 == hashlib.sha256(b"tampered").hexdigest()
    assert changed.md5 == hashlib.md5(b"tampered").hexdigest()
    assert changed.size == len(b"tampered")


def test_digest_of_a_missing_object_raises(storage):
    with pytest.raises(FileNotFoundError):
        storage.digest("staging/missing")


def test_delete_is_idempotent(storage):
    storage.save("staging/obj", iter([b"x"]))
    storage.delete("staging/obj")
    storage.delete("staging/obj")
    assert not storage.exists("staging/obj")
    assert everything_in(storage) == []


def test_a_large_object_goes_up_in_parts_and_comes_back_whole(storage):
    chunks = large_content()
    whole = b"".join(chunks)
    stored = storage.save("staging/big", iter(chunks))
    assert stored == StoredObject(
        "staging/big", len(whole), hashlib.sha256(whole).hexdigest(), hashlib.md5(whole).hexdigest()
    )
    assert storage.size("staging/big") == len(whole)
    assert storage.digest("staging/big") == stored
    assert storage.copy("staging/big", "permanent/big") == StoredObject(
        "permanent/big", stored.size, stored.sha256, stored.md5
    )
    assert everything_in(storage) == ["permanent/big", "staging/big"]


def test_a_large_upload_over_the_limit_is_aborted_and_leaves_nothing(storage):
    chunks = large_content(parts=3)
    with pytest.raises(TooLarge):
        storage.save("staging/big", iter(chunks), max_size=2 * PART + 1)
    assert everything_in(storage) == []


def test_head_and_size_of_an_empty_object(storage):
    storage.save("staging/empty", iter([b""]))
    assert storage.head("staging/empty") == b""
    assert storage.size("staging/empty") == 0
    assert not storage.exists("staging/other")
    with pytest.raises(FileNotFoundError):
        storage.size("staging/other")


def test_s3_memory_stays_within_one_part(s3_endpoint):
    """The S3 backend never buffers more than one part, whatever the object's size."""
    storage = S3Storage(
        s3_endpoint.new_bucket("parts"), part_size=PART, client=s3_endpoint.client()
    )
    sizes = []
    real_upload_part = storage.client.upload_part

    def upload_part(**kwargs):
        sizes.append(len(kwargs["Body"]))
        return real_upload_part(**kwargs)

    storage.client.upload_part = upload_part
    stored = storage.save("staging/parts", iter(large_content(parts=3, tail=1)))
    assert sizes == [PART, PART, PART, 1]
    assert stored.size == 3 * PART + 1


def test_an_opened_object_reads_at_any_offset_as_archives_need(storage):
    import io
    import zipfile

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("data/readme.txt", "moss " * 1000)
    storage.save("staging/zip", [packed.getvalue()])
    with storage.open("staging/zip") as handle:
        assert handle.seekable() and zipfile.is_zipfile(handle)
        handle.seek(0)
        assert zipfile.ZipFile(handle).read("data/readme.txt") == b"moss " * 1000
        handle.seek(-4, io.SEEK_END)
        assert handle.read() == packed.getvalue()[-4:]


# --- partial files a crash left behind --------------------------------------------------


def _left_by_a_crash(storage: LocalStorage, key: str, age: float) -> os.PathLike:
    """The hidden partial file a save cut off by a crash leaves, last written `age` ago."""
    target = storage.path(key)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(b"half a thesis")
    then = time.time() - age
    os.utime(partial, (then, then))
    return partial


def test_stale_partial_files_are_removed_and_fresh_ones_kept(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    stale = _left_by_a_crash(storage, new_key("staging", "d1"), age=7200)
    fresh = _left_by_a_crash(storage, new_key("staging", "d2"), age=60)
    kept = storage.save(new_key("staging", "d3"), iter([b"whole"]))
    removed = storage.remove_stale_partials(older_than=3600)
    assert removed == [str(stale.relative_to(storage.root))]
    assert not stale.exists() and fresh.exists()
    assert storage.exists(kept.key)


def test_a_partial_file_being_written_is_never_removed_however_old(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    key = new_key("staging", "d1")
    partial = storage.path(key).with_name(f".{storage.path(key).name}.partial")
    swept = []

    def chunks():
        yield b"first half, "
        then = time.time() - 7200  # a writer that has been silent for two hours
        os.utime(partial, (then, then))
        swept.append(storage.remove_stale_partials(older_than=3600))
        yield b"second half"

    stored = storage.save(key, chunks())
    assert swept == [[]]
    assert b"".join(storage.read(stored.key)) == b"first half, second half"


def test_a_save_takes_over_the_partial_file_a_crashed_writer_left(tmp_path):
    """Retrying a write to the same key after a crash succeeds (inventory's copies do)."""
    storage = LocalStorage(tmp_path / "store")
    key = new_key("permanent", "item")
    partial = _left_by_a_crash(storage, key, age=5)
    storage.save(key, iter([b"the copy"]))
    assert b"".join(storage.read(key)) == b"the copy"
    assert not partial.exists()


def test_s3_has_no_partial_files_to_remove(s3_endpoint):
    storage = S3Storage(
        s3_endpoint.new_bucket("partials"), part_size=PART, client=s3_endpoint.client()
    )
    storage.save(new_key("staging", "d1"), iter([b"whole"]))
    assert storage.remove_stale_partials(older_than=0) == []
