"""Look inside archives and compressed files without extracting anything to disk.

zip and tar (plain, or compressed with gzip, bzip2, xz or zstd) are listed; a single compressed
file (.gz, .bz2, .xz, .zst) is inflated into nothing. Headers are checked first (entry count,
declared sizes and ratios, names, links, zip entries that share their bytes), then, in a full
check, everything is decompressed into nothing while the real bytes are counted, so headers
that lie are caught as the archive expands. The limits hold for each entry and for the whole
file, at every level together; what an entry holds is opened up to a depth (a compressed
stream as it flows, an inner archive in memory up to a size). This code meets hostile files,
so it runs in technical.py's capped child process.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Literal, cast

import zstandard

from kernel.contracts.validation_messages import human_size
from kernel.policy.text import user_pattern

READ_CHUNK = 1024 * 1024
LISTED_ENTRIES = 200  # entries named in the report; the count covers all
MAX_NAME = 300  # characters of an entry's name kept in the report
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSED_MAGIC = (b"\x1f\x8b\x08", b"\xfd7zXZ\x00", ZSTD_MAGIC)
# bzip2: "BZh", the block size, then a block's or the stream end's magic (text may start "BZh")
BZIP2 = user_pattern(rb"BZh[1-9](\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")
_UNSHOWABLE = user_pattern("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip local header: signature ... name and extra lengths


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 10_000  # entries at every level together
    max_expanded: int = 16 * 1024**3  # bytes unpacked, at every level together
    max_ratio: int = 100  # unpacked / packed, for each zip entry and for the whole file
    ratio_floor: int = 1024**2  # fewer unpacked bytes than this are never a bomb
    max_depth: int = 3  # the file itself is level 1
    max_nested_size: int = 64 * 1024**2  # an inner archive is opened in memory up to this
    quick_size: int = 64 * 1024**2  # the pre-check inflates files up to this size,
    quick_expanded: int = 256 * 1024**2  # and this many bytes; the full check does the rest
    seconds: float = 300.0  # wall-clock and CPU time for a full check of one file


class ArchiveProblem(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = {
            key: _shorten(value) if isinstance(value, str) else value
            for key, value in params.items()
        }


class _Deferred(Exception):
    """The pre-check's budget is spent without a problem: the full check decides."""


# what a damaged or hostile file makes the readers raise
UNREADABLE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    NotImplementedError,
    EOFError,
    ValueError,
    OSError,
    zlib.error,
    lzma.LZMAError,
    zstandard.ZstdError,
)


def _shorten(text: str) -> str:
    """An entry's name as the report shows it: bytes a tar name could not decode, control
    characters and bidirectional overrides become U+FFFD (the report is stored and shown),
    and a long name is cut."""
    with contextlib.suppress(UnicodeEncodeError):  # a surrogate that is no escaped byte: below
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = _UNSHOWABLE.sub("\ufffd", text)
    return text if len(text) <= MAX_NAME else text[:MAX_NAME] + "…"


@dataclass
class Listing:
    kind: str  # zip, tar, or compressed (one compressed file, perhaps holding an archive)
    entries: list[dict[str, Any]] = field(default_factory=list)
    entry_count: int = 0
    expanded_size: int = 0
    deferred: bool = False

    def add(self, name: str, size: int, depth: int) -> None:
        self.entry_count += 1
        if len(self.entries) < LISTED_ENTRIES:
            self.entries.append({"name": _shorten(name), "size": size, "depth": depth})

    def as_report(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "entries": self.entries,
            "entry_count": self.entry_count,
            "expanded_size": self.expanded_size,
            "truncated": self.entry_count > len(self.entries),
            "deferred": self.deferred,
        }


def archive_kind(head: bytes) -> str | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if _is_tar_header(head):
        return "tar"
    if head.startswith(COMPRESSED_MAGIC) or BZIP2.match(head):
        return "compressed"  # a tar inside, perhaps: inflated to find out
    return None


def _is_tar_header(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _decompressing(handle: _Inflating, head: bytes) -> IO[bytes]:
    """A reader of the decompressed bytes; each read yields at most the size asked for."""
    source = cast(IO[bytes], handle)  # the decompressors only read; they read as files do
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=source, mode="rb"))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(source))
    if head.startswith(ZSTD_MAGIC):
        return cast(
            IO[bytes],
            zstandard.ZstdDecompressor().stream_reader(
                source, read_across_frames=True, closefd=False
            ),
        )
    return cast(IO[bytes], lzma.LZMAFile(source))


class _Inflating(io.RawIOBase):
    """Decompressed bytes, each one counted as it is produced (the counter raises past a
    limit), with a look at the first bytes before reading."""

    def __init__(self, reader: IO[bytes], count: Callable[[int], None]):
        self._reader, self._count, self._pending = reader, count, b""
        self.produced = 0

    def readable(self) -> bool:
        return True

    def _produce(self, size: int) -> bytes:
        data = self._reader.read(size)
        self.produced += len(data)
        self._count(len(data))
        return data

    def peek(self, size: int) -> bytes:
        while len(self._pending) < size and (data := self._produce(size - len(self._pending))):
            self._pending += data
        return self._pending[:size]

    def readinto(self, buffer: Any) -> int:  # any writable buffer, as RawIOBase takes
        if self._pending:
            data, self._pending = self._pending[: len(buffer)], self._pending[len(buffer) :]
        else:
            data = self._produce(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _uncounted(count: int) -> None:
    """For bytes that were counted where they inflated, or were never compressed."""


def inspect(
    handle: BinaryIO, size: int, head: bytes, limits: ArchiveLimits, expand: bool
) -> Listing | None:
    """The file's listing, or None if it is neither an archive nor compressed. A pre-check
    (expand false) reads zip headers only and inflates within its budget; past it, or for a
    large compressed file, the listing is deferred. Raises ArchiveProblem."""
    kind = archive_kind(head)
    if kind is None:
        return None
    if kind == "compressed" and not expand and size > limits.quick_size:
        return Listing(kind, deferred=True)
    listing = Listing(kind)
    handle.seek(0)
    try:
        _Inspector(limits, expand, size).level(kind, handle, 1, listing, "")
    except _Deferred:
        return Listing(listing.kind, deferred=True)
    except UNREADABLE as err:
        raise ArchiveProblem(
            "archive_damaged", detail=str(err)[:200] or type(err).__name__
        ) from None
    return listing


def report(handle: BinaryIO, limits: dict[str, Any], expand: bool) -> dict[str, Any]:
    """inspect() with plain data in and out, as the capped child runs it: {"listing"} (None
    for a file that is no archive) or {"problem": {"code", "params"}}."""
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    try:
        listing = inspect(handle, size, handle.read(512), ArchiveLimits(**limits), expand)
    except ArchiveProblem as problem:
        return {"problem": {"code": problem.code, "params": problem.params}}
    except MemoryError:  # over the child's cap, as an xz stream asking for a huge window is
        return {
            "problem": {
                "code": "archive_unchecked",
                "params": {"detail": "it needs more memory than Lodge allows"},
            }
        }
    return {"listing": listing.as_report() if listing else None}


def _unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or ".." in parts
        or (len(name) > 1 and name[1] == ":" and name[0].isalpha())
    )


def _overlapping(handle: BinaryIO, infos: list[zipfile.ZipInfo], directory: int) -> str | None:
    """The name of a zip entry whose bytes lie within another's or within the central
    directory: the overlapping-entry zip bomb, where every entry re-inflates shared data."""
    spans = []
    for info in infos:
        handle.seek(info.header_offset)
        signature, name_length, extra_length = LOCAL_HEADER.unpack(
            handle.read(LOCAL_HEADER.size).ljust(LOCAL_HEADER.size, b"\0")
        )
        if signature != b"PK\x03\x04":
            raise ArchiveProblem("archive_damaged", detail=f"{info.filename} has no local header")
        end = info.header_offset + LOCAL_HEADER.size + name_length + extra_length
        spans.append((info.header_offset, end + info.compress_size, info.filename))
    spans.sort()
    previous_end = 0
    for start, end, name in spans:
        if start < previous_end:
            return name
        previous_end = end
    return spans[-1][2] if spans and previous_end > directory else None


class _Inspector:
    def __init__(self, limits: ArchiveLimits, expand: bool, size: int):
        self.limits = limits
        self.expand = expand
        self.size = size  # the whole file's, packed
        self.inflated = 0  # real bytes out of every decompressor, at every level

    def level(
        self, kind: str | None, handle: BinaryIO, depth: int, listing: Listing, prefix: str
    ) -> None:
        readers: dict[str | None, Callable[[BinaryIO, int, Listing, str], None]] = {
            "zip": self.zip,
            "tar": self.tar,
            "compressed": self.compressed,
        }
        readers[kind](handle, depth, listing, prefix)

    def _inflated(self, count: int) -> None:
        self.inflated += count
        if self.inflated > self.limits.max_expanded:
            raise ArchiveProblem(
                "archive_bomb", detail=f"more than {human_size(self.limits.max_expanded)} unpacked"
            )
        self._ratio(self.inflated, self.size, "the whole file")
        if not self.expand and self.inflated > self.limits.quick_expanded:
            raise _Deferred

    def _count(self, listing: Listing, size: int, compressed: int | None, name: str) -> None:
        """An entry's declared size against the limits for it and for the whole file."""
        listing.expanded_size += size
        if listing.entry_count > self.limits.max_entries:
            raise ArchiveProblem("archive_too_many_entries", limit=self.limits.max_entries)
        if listing.expanded_size > self.limits.max_expanded:
            raise ArchiveProblem(
                "archive_bomb", detail=f"more than {human_size(self.limits.max_expanded)} unpacked"
            )
        self._ratio(listing.expanded_size, self.size, "the whole file")
        if compressed is not None:
            self._ratio(size, compressed, name)

    def _ratio(self, size: int, compressed: int, name: str) -> None:
        if size > self.limits.ratio_floor and size > self.limits.max_ratio * max(compressed, 1):
            raise ArchiveProblem(
                "archive_bomb",
                detail=f"{name}: {human_size(compressed)} becomes {human_size(size)}",
            )

    def _within_depth(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise ArchiveProblem("archive_too_deep", limit=self.limits.max_depth)

    def _entry(
        self, entry: _Inflating, name: str, compressed: int | None, depth: int, listing: Listing
    ) -> int:
        """Read an entry into nothing, checking its ratio, and open what it holds one level
        deeper: a compressed stream as it flows, an archive in memory if it is small enough
        (a larger one is still scanned by clamd). Returns the entry's real size."""
        inner = archive_kind(entry.peek(512))
        if inner == "compressed":
            self.compressed(entry, depth + 1, listing, name + "/")
        kept = bytearray() if inner in ("zip", "tar") else None
        while chunk := entry.read(READ_CHUNK):
            if compressed is not None:
                self._ratio(entry.produced, compressed, name)
            if kept is not None:
                kept += chunk
                kept = kept if len(kept) <= self.limits.max_nested_size else None
        if kept is not None:
            self._nested(bytes(kept), depth + 1, listing, name + "/")
        return entry.produced

    def _nested(self, data: bytes, depth: int, listing: Listing, prefix: str) -> None:
        self.level(archive_kind(data[:512]), io.BytesIO(data), depth, listing, prefix)

    def zip(self, handle: BinaryIO, depth: int, listing: Listing, prefix: str) -> None:
        self._within_depth(depth)
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
            if len(infos) > self.limits.max_entries:
                raise ArchiveProblem("archive_too_many_entries", limit=self.limits.max_entries)
            shared = _overlapping(handle, infos, archive.start_dir)
            if shared is not None:
                raise ArchiveProblem("archive_overlapping", name=prefix + shared)
            for info in infos:  # headers first: nothing is decompressed for a bad archive
                name = prefix + info.filename
                if _unsafe(info.filename):
                    raise ArchiveProblem("archive_unsafe_path", name=name)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ArchiveProblem("archive_link", name=name)
                if info.flag_bits & 0x1:
                    raise ArchiveProblem("archive_encrypted", name=name)
                listing.add(name, info.file_size, depth)
                self._count(listing, info.file_size, info.compress_size, name)
            if not self.expand:
                return
            for info in infos:
                if info.is_dir():
                    continue
                name = prefix + info.filename
                with archive.open(info) as member:
                    real = self._entry(
                        _Inflating(member, self._inflated), name, info.compress_size, depth, listing
                    )
                if real != info.file_size:
                    raise ArchiveProblem(
                        "archive_damaged", detail=f"{name} is not the size its header says"
                    )

    def tar(self, handle: BinaryIO | _Inflating, depth: int, listing: Listing, prefix: str) -> None:
        """A tar from a file (headers are read by seeking past the data) or from a
        decompressing stream (read through; its bytes are counted as they inflate)."""
        self._within_depth(depth)
        mode: Literal["r|", "r:"] = "r|" if isinstance(handle, _Inflating) else "r:"
        with tarfile.open(fileobj=handle, mode=mode) as archive:
            for member in archive:
                name = prefix + member.name
                if _unsafe(member.name):
                    raise ArchiveProblem("archive_unsafe_path", name=name)
                if member.issym() or member.islnk():
                    raise ArchiveProblem("archive_link", name=name)
                if not (member.isfile() or member.isdir()):
                    raise ArchiveProblem("archive_special", name=name)
                listing.add(name, member.size, depth)
                self._count(listing, member.size, None, name)  # the whole file's ratio
                if not (self.expand and member.isfile()):
                    continue
                # counted already where the tar itself inflates
                data = cast(IO[bytes], archive.extractfile(member))  # a file's: never None
                self._entry(_Inflating(data, _uncounted), name, None, depth, listing)

    def compressed(
        self, handle: BinaryIO | _Inflating, depth: int, listing: Listing, prefix: str
    ) -> None:
        """One compressed stream, read as it flows: a tar inside is this same level (a
        .tar.gz); a zip or another compressed stream inside is one level deeper; anything
        else is a leaf."""
        source = handle if isinstance(handle, _Inflating) else _Inflating(handle, _uncounted)
        inflating = _Inflating(_decompressing(source, source.peek(6)), self._inflated)
        inside = archive_kind(inflating.peek(512))
        if inside == "tar":
            if depth == 1:
                listing.kind = "tar"
            self.tar(inflating, depth, listing, prefix)
        elif inside == "compressed" and self.expand:
            self._within_depth(depth + 1)
            self.compressed(inflating, depth + 1, listing, prefix)
        elif inside == "zip" and self.expand:
            self._within_depth(depth + 1)
            data = bytearray()
            while len(data) <= self.limits.max_nested_size and (
                chunk := inflating.read(READ_CHUNK)
            ):
                data += chunk
            if len(data) <= self.limits.max_nested_size:
                self._nested(bytes(data), depth + 1, listing, prefix)
        while inflating.read(READ_CHUNK):  # the rest, into nothing, counted
            pass
        if depth == 1:
            listing.expanded_size = max(listing.expanded_size, self.inflated)
