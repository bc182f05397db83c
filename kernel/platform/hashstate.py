"""SHA-256 and MD5 whose state can be saved after one request and taken up by another process.

hashlib's objects cannot be saved (each is an OpenSSL context behind a pointer), so a
resumable upload whose chunks land in different gateway processes had to be read back and
hashed again after its last chunk. OpenSSL's lower-level SHA256_* and MD5_* functions work
on plain structures instead (SHA256_CTX and MD5_CTX, public in openssl/sha.h and md5.h and
unchanged since OpenSSL 0.9.8), with the same assembly as hashlib (SHA extensions included);
kept in buffers of our own, their bytes can be saved with the upload and loaded again.
(`rehash` on PyPI pickles hashlib's own objects by reaching into CPython's and OpenSSL's
private structures, which OpenSSL 3 changed; these two are public.)

A state is tagged with the OpenSSL version and the byte order; one saved by another build is
not used, and the caller hashes the file again. Without a loadable libcrypto there is no
state at all, with the same outcome.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

from kernel.platform.storage import StoredObject

# bigger than SHA256_CTX (112 bytes) and MD5_CTX (92 bytes) on every platform
_CONTEXT_SIZE = 256
_DIGESTS = {"sha256": 32, "md5": 16}
_PREFIX = {"sha256": "SHA256", "md5": "MD5"}


@functools.cache
def _libcrypto() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)  # a CDLL call releases the GIL, as hashlib does
        for prefix in _PREFIX.values():
            getattr(lib, f"{prefix}_Init").argtypes = [ctypes.c_void_p]
            getattr(lib, f"{prefix}_Update").argtypes = [
                ctypes.c_void_p,
                ctypes.c_char_p,
                ctypes.c_size_t,
            ]
            getattr(lib, f"{prefix}_Final").argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.OpenSSL_version.argtypes = [ctypes.c_int]
        lib.OpenSSL_version.restype = ctypes.c_char_p
    except (OSError, AttributeError):  # no such library, or built without these functions
        return None
    return lib


def _build() -> str | None:
    lib = _libcrypto()
    return None if lib is None else f"{lib.OpenSSL_version(0).decode()}/{sys.byteorder}"


class ResumableHasher:
    """SHA-256 and MD5 of a file's first `size` bytes, whose state is a small dict of text."""

    def __init__(self, lib: ctypes.CDLL, contexts: dict[str, ctypes.Array[ctypes.c_char]]):
        self._lib, self._contexts = lib, contexts

    @classmethod
    def new(cls) -> ResumableHasher | None:
        lib = _libcrypto()
        if lib is None:
            return None
        contexts = {}
        for name, prefix in _PREFIX.items():
            contexts[name] = ctypes.create_string_buffer(_CONTEXT_SIZE)
            if getattr(lib, f"{prefix}_Init")(contexts[name]) != 1:
                return None
        return cls(lib, contexts)

    @classmethod
    def resume(cls, state: dict | None, size: int) -> ResumableHasher | None:
        """The hasher saved as `state`, if it hashed exactly `size` bytes on this build."""
        lib = _libcrypto()
        if (
            lib is None
            or not isinstance(state, dict)
            or state.get("build") != _build()
            or state.get("size") != size
        ):
            return None
        try:
            contexts = {name: bytes.fromhex(state[name]) for name in _PREFIX}
        except (KeyError, TypeError, ValueError):
            return None
        if any(len(context) != _CONTEXT_SIZE for context in contexts.values()):
            return None
        return cls(
            lib,
            {
                name: ctypes.create_string_buffer(context, _CONTEXT_SIZE)
                for name, context in contexts.items()
            },
        )

    def sinks(self) -> list[Callable[[bytes], object]]:
        """One update per digest, for `fan_out` to run side by side."""
        return [self._updater(name) for name in _PREFIX]

    def _updater(self, name: str) -> Callable[[bytes], object]:
        update, context = getattr(self._lib, f"{_PREFIX[name]}_Update"), self._contexts[name]

        def feed(chunk: bytes) -> None:
            update(context, bytes(chunk), len(chunk))

        return feed

    def state(self, size: int) -> dict:
        """What `resume` takes up again, for a hasher that has seen `size` bytes."""
        return {
            "build": _build(),
            "size": size,
            **{name: context.raw.hex() for name, context in self._contexts.items()},
        }

    def hexdigest(self, name: str) -> str:
        # Final ends a context: a copy of it, so this hasher could go on
        context = ctypes.create_string_buffer(self._contexts[name].raw, _CONTEXT_SIZE)
        digest = ctypes.create_string_buffer(_DIGESTS[name])
        getattr(self._lib, f"{_PREFIX[name]}_Final")(digest, context)
        return digest.raw.hex()

    def stored(self, key: str, size: int) -> StoredObject:
        return StoredObject(key, size, self.hexdigest("sha256"), self.hexdigest("md5"))
