"""SHA-256 and MD5 saved after some bytes and taken up again elsewhere: the digests of the
whole come out as hashlib's, and a state that does not fit is never used."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from kernel.platform.hashstate import ResumableHasher

DATA = os.urandom(3 * 1024 * 1024 + 17)


def hashed(hasher: ResumableHasher, data: bytes) -> None:
    for update in hasher.sinks():
        update(data)


@pytest.mark.parametrize("cuts", [[0], [1], [63, 64, 65], [1024 * 1024 + 5, 2 * 1024 * 1024]])
def test_a_state_saved_and_resumed_at_any_byte_gives_hashlibs_digests(cuts):
    hasher = ResumableHasher.new()
    assert hasher is not None
    done = 0
    for cut in [*cuts, len(DATA)]:
        hashed(hasher, DATA[done:cut])
        state = json.loads(json.dumps(hasher.state(cut)))  # as the upload's record keeps it
        hasher = ResumableHasher.resume(state, cut)
        assert hasher is not None
        done = cut
    stored = hasher.stored("id", len(DATA))
    assert (stored.size, stored.sha256, stored.md5) == (
        len(DATA),
        hashlib.sha256(DATA).hexdigest(),
        hashlib.md5(DATA).hexdigest(),
    )


def test_taking_the_digest_does_not_end_the_hasher():
    hasher = ResumableHasher.new()
    hashed(hasher, b"abc")
    assert hasher.hexdigest("sha256") == hashlib.sha256(b"abc").hexdigest()
    hashed(hasher, b"def")
    assert hasher.hexdigest("md5") == hashlib.md5(b"abcdef").hexdigest()


def test_an_empty_stream():
    assert ResumableHasher.new().stored("id", 0).sha256 == hashlib.sha256(b"").hexdigest()


def good_state(size: int = 3) -> dict:
    hasher = ResumableHasher.new()
    hashed(hasher, DATA[:size])
    return hasher.state(size)


@pytest.mark.parametrize(
    "damage",
    [
        lambda state: None,
        lambda state: "not a dict",
        lambda state: {**state, "size": 4},  # saved for other bytes than the file has
        lambda state: {**state, "build": "OpenSSL 1.0.2/big"},  # another build's layout
        lambda state: {k: v for k, v in state.items() if k != "md5"},
        lambda state: {**state, "sha256": "zz" * 256},  # not hex
        lambda state: {**state, "sha256": state["sha256"][:-2]},  # short
        lambda state: {**state, "md5": state["md5"] + "00"},  # long
        lambda state: {**state, "md5": 12},
    ],
)
def test_a_state_that_does_not_fit_is_not_used(damage):
    assert ResumableHasher.resume(damage(good_state()), 3) is None
