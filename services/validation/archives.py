"""Look inside zip and tar archives without extracting anything to disk.

Headers are checked first (entry count, declared sizes and ratios, names, links), then, in a
full check, every entry is decompressed into nothing while the real bytes are counted, so an
archive whose headers lie is caught as it expands. Archives inside archives are opened in
memory, up to a depth and a size.
"""
from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO

from services.common.validation_messages import human_size

READ_CHUNK = 1024 * 1024
LISTED_ENTRIES = 200  # entries named in the report; the count covers all
MAX_NAME = 300  # characters of an entry's name kept in the report


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 10_000
    max_expanded: int = 16 * 1024 ** 3
    max_ratio: int = 100          # expanded / compressed, per entry and per archive
    ratio_floor: int = 1024 ** 2  # small entries may compress well without being bombs
    max_depth: int = 3            # the archive itself is level 1
    max_nested_size: int = 64 * 1024 ** 2  # an inner archive is opened in memory up to this
    quick_tar_size: int = 64 * 1024 ** 2   # pre-check lists compressed tars up to this size


class ArchiveProblem(Exception):
    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = {key: _shorten(value) if isinstance(value, str) else value
                       for key, value in params.items()}


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[:MAX_NAME] + "…"


@dataclass
class Listing:
    kind: str
    entries: list[dict] = field(default_factory=list)
    entry_count: int = 0
    expanded_size: int = 0
    deferred: bool = False

    def add(self, name: str, size: int, depth: int) -> None:
        self.entry_count += 1
        if len(self.entries) < LISTED_ENTRIES:
            self.entries.append({"name": _shorten(name), "size": size, "depth": depth})

    def as_report(self) -> dict:
        return {"kind": self.kind, "entries": self.entries, "entry_count": self.entry_count,
                "expanded_size": self.expanded_size,
                "truncated": self.entry_count > len(self.entries), "deferred": self.deferred}


def archive_kind(head: bytes) -> str | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):
        return "compressed"  # a tar inside, perhaps: opened to find out
    return None


def inspect(handle: BinaryIO, size: int, head: bytes, limits: ArchiveLimits,
            expand: bool) -> Listing | None:
    """The archive's listing, or None if the file is no archive. Raises ArchiveProblem."""
    kind = archive_kind(head)
    if kind is None:
        return None
    inspector = _Inspector(limits, expand)
    if kind == "zip":
        listing = Listing("zip")
        inspector.zip(handle, size, 1, listing)
        return listing
    if kind == "compressed" and not expand and size > limits.quick_tar_size:
        return Listing("tar", deferred=True)
    if kind == "compressed" and not _is_tar(handle):
        return None  # a plain .gz/.bz2/.xz file: no archive to list
    handle.seek(0)
    listing = Listing("tar")
    inspector.tar(handle, size, 1, listing)
    return listing


def _is_tar(handle: BinaryIO) -> bool:
    handle.seek(0)
    try:
        with tarfile.open(fileobj=handle, mode="r|*") as archive:
            archive.next()
        return True
    except (tarfile.TarError, OSError, EOFError):
        return False


def _unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return (name.startswith(("/", "\\")) or ".." in parts
            or (len(name) > 1 and name[1] == ":" and name[0].isalpha()))


class _Inspector:
    def __init__(self, limits: ArchiveLimits, expand: bool):
        self.limits = limits
        self.expand = expand
        self.expanded = 0  # real bytes decompressed, across every level

    def _count(self, listing: Listing, size: int, compressed: int | None, name: str) -> None:
        listing.expanded_size += size
        if listing.entry_count > self.limits.max_entries:
            raise ArchiveProblem("archive_too_many_entries", limit=self.limits.max_entries)
        if listing.expanded_size > self.limits.max_expanded:
            raise ArchiveProblem("archive_bomb", detail=f"more than "
                                 f"{human_size(self.limits.max_expanded)} unpacked")
        if compressed is not None:
            self._ratio(size, compressed, name)

    def _ratio(self, size: int, compressed: int, name: str) -> None:
        if size > self.limits.ratio_floor and size > self.limits.max_ratio * max(compressed, 1):
            raise ArchiveProblem("archive_bomb", detail=f"{name}: {human_size(compressed)} "
                                 f"becomes {human_size(size)}")

    def _take(self, member: BinaryIO, name: str, compressed: int | None) -> tuple[int, bytes]:
        """Decompress into nothing, counting real bytes against the limits; returns the real
        size, and the entry's bytes if it may be an archive small enough to open in memory."""
        kept, real, inner = bytearray(), 0, None
        while chunk := member.read(READ_CHUNK):
            real += len(chunk)
            self.expanded += len(chunk)
            if self.expanded > self.limits.max_expanded:
                raise ArchiveProblem("archive_bomb", detail=f"more than "
                                     f"{human_size(self.limits.max_expanded)} unpacked")
            if compressed is not None:
                self._ratio(real, compressed, name)
            if inner is None:
                inner = bool(archive_kind(chunk[:512]))
            if inner:
                kept += chunk
                if len(kept) > self.limits.max_nested_size:  # too big to open in memory;
                    kept, inner = bytearray(), False         # clamd still scans inside it
        return real, bytes(kept)

    def _nested(self, data: bytes, depth: int, listing: Listing, name: str) -> None:
        """Inspect an inner archive, held in memory, one level deeper."""
        buffer = io.BytesIO(data)
        kind = archive_kind(data[:512])
        if kind == "compressed":  # a .gz or .xz may be a tar, or just one compressed file
            kind = "tar" if _is_tar(buffer) else None
            buffer.seek(0)
        if kind is None:
            return
        if depth + 1 > self.limits.max_depth:
            raise ArchiveProblem("archive_too_deep", limit=self.limits.max_depth)
        inspect_level = self.zip if kind == "zip" else self.tar
        inspect_level(buffer, len(data), depth + 1, listing, prefix=name + "/")

    def zip(self, handle: BinaryIO, size: int, depth: int, listing: Listing,
            prefix: str = "") -> None:
        try:
            with zipfile.ZipFile(handle) as archive:
                infos = archive.infolist()
                if len(infos) > self.limits.max_entries:
                    raise ArchiveProblem("archive_too_many_entries", limit=self.limits.max_entries)
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
                        real, inner = self._take(member, name, info.compress_size)
                    if real != info.file_size:
                        raise ArchiveProblem("archive_damaged", detail=f"{name} is not the size "
                                             f"its header says")
                    if inner:
                        self._nested(inner, depth, listing, name)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
                ValueError, OSError) as err:
            raise ArchiveProblem("archive_damaged", detail=str(err)[:200]) from None

    def tar(self, handle: BinaryIO, size: int, depth: int, listing: Listing,
            prefix: str = "") -> None:
        try:
            with tarfile.open(fileobj=handle, mode="r|*") as archive:
                for member in archive:
                    name = prefix + member.name
                    if _unsafe(member.name):
                        raise ArchiveProblem("archive_unsafe_path", name=name)
                    if member.issym() or member.islnk():
                        raise ArchiveProblem("archive_link", name=name)
                    if not (member.isfile() or member.isdir()):
                        raise ArchiveProblem("archive_special", name=name)
                    listing.add(name, member.size, depth)
                    # a tar's sizes are honest (they place the next header); the ratio is the
                    # whole archive's, against its compressed size
                    self._count(listing, member.size, None, name)
                    self._ratio(listing.expanded_size, size, prefix or "the archive")
                    if not (self.expand and member.isfile()):
                        continue
                    _, inner = self._take(archive.extractfile(member), name, None)
                    if inner:
                        self._nested(inner, depth, listing, name)
        except (tarfile.TarError, EOFError, ValueError, OSError) as err:
            raise ArchiveProblem("archive_damaged", detail=str(err)[:200]) from None
