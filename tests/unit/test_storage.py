"""LocalStorage in a temporary folder: checksums, limits, key safety, copy and digest."""
from __future__ import annotations

import hashlib
import os

import pytest

from services.common.exceptions import TooLarge
from services.common.storage import LocalStorage, StoredObject, new_key

CONTENT = [b"first chunk of a thesis\n", b"\x00\x01\x02" * 1000, b"", b"last chunk\n"]
WHOLE = b"".join(CONTENT)


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "store")


def everything_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_save_computes_size_and_checksums(storage):
    stored = storage.save("staging/dep1/abc", iter(CONTENT))
    assert stored == StoredObject(
        key="staging/dep1/abc", size=len(WHOLE),
        sha256=hashlib.sha256(WHOLE).hexdigest(), md5=hashlib.md5(WHOLE).hexdigest())


def test_saved_file_holds_exactly_the_chunks(storage):
    storage.save("staging/dep1/abc", iter(CONTENT))
    assert (storage.root / "staging" / "dep1" / "abc").read_bytes() == WHOLE
    assert b"".join(storage.read("staging/dep1/abc")) == WHOLE
    assert storage.head("staging/dep1/abc", 5) == WHOLE[:5]
    assert storage.size("staging/dep1/abc") == len(WHOLE)
    assert storage.exists("staging/dep1/abc")
    # no temporary file stays behind after a successful save
    assert everything_under(storage.root) == ["staging/dep1/abc"]


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
    assert everything_under(storage.root) == []      # no file and no .partial


def test_a_failing_upload_leaves_nothing_behind(storage):
    def broken_upload():
        yield b"some bytes"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        storage.save("staging/dep1/broken", broken_upload())
    assert everything_under(storage.root) == []


def test_a_failed_overwrite_keeps_the_old_object(storage):
    storage.save("staging/obj", iter([b"old"]))
    with pytest.raises(TooLarge):
        storage.save("staging/obj", iter([b"much newer content"]), max_size=5)
    assert b"".join(storage.read("staging/obj")) == b"old"
    assert everything_under(storage.root) == ["staging/obj"]


@pytest.mark.parametrize("key", [
    "../outside", "staging/../../outside", "staging/..", "staging/dep/../x",
    "/etc/passwd", "/tmp/x", "", "staging//x", "staging/", ".hidden", "a\\b", "staging/x y",
])
def test_unsafe_keys_are_refused(storage, key):
    with pytest.raises(ValueError, match="not a storage key"):
        storage.path(key)
    with pytest.raises(ValueError):
        storage.save(key, iter([b"x"]))


def test_refused_keys_write_nothing_outside_the_root(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(ValueError):
        storage.save("../escaped", iter([b"x"]))
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize("key", ["staging/abc", "permanent/item-1/v1.pdf", "a_b-c/d.e.f"])
def test_generated_style_keys_are_accepted(storage, key):
    assert storage.path(key) == storage.root / key


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
    # a change on disk shows up as a different checksum
    path = storage.path("staging/obj")
    path.write_bytes(b"tampered")
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
    assert not os.listdir(storage.root / "staging")
