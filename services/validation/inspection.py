"""Runs the checks on files in storage: the quick pre-check at upload, the full check after submit.

Pre-check (synchronous at upload, seconds even for a huge file): size, extension, format from
the first 64 KiB, programs and double extensions, the PDF/ZIP polyglot test, the profile's
media types, and an archive listing from headers only (zip's central directory; compressed
files only up to 64 MiB, inflating at most 256 MiB). Full check (after submit): the same plus
every archive entry and compressed stream decompressed and counted, the clamd scan, the
SHA-256 again from staging, and technical metadata. Archives are only ever opened in a capped
child process (technical.inspect_archive), never in the service.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, Protocol

from kernel.contracts.validation_messages import human_size
from kernel.platform.config import Settings, get_settings
from kernel.platform.storage import StoredObject
from services.validation import checks, technical
from services.validation.archives import ArchiveLimits, archive_kind
from services.validation.scanner import Clamd

QUICK_COPY = 64 * 1024**2  # the pre-check copies at most this from a backend without a path
QUICK_SECONDS = 15  # the pre-check's archive child; a slower archive waits for the full check


class Readable(Protocol):
    """What the checks need of a storage backend; `open` and `path` are used where it has them."""

    def read(self, key: str) -> Iterator[bytes]: ...
    def head(self, key: str, length: int = ...) -> bytes: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def digest(self, key: str) -> StoredObject: ...


def archive_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_entries=settings.validation.archive_max_entries,
        max_expanded=settings.validation.archive_max_expanded,
        max_ratio=settings.validation.archive_max_ratio,
        max_depth=settings.validation.archive_max_depth,
        seconds=settings.validation.archive_seconds,
    )


@contextlib.contextmanager
def seekable(storage: Readable, key: str) -> Iterator[BinaryIO]:
    """Random access to a stored file (zip directories sit at the end): the backend's own
    handle where it has one, else a temporary copy."""
    if hasattr(storage, "open"):
        with storage.open(key) as handle:
            yield handle
        return
    with tempfile.TemporaryFile() as handle:
        for chunk in storage.read(key):
            handle.write(chunk)
        handle.seek(0)
        yield handle


@contextlib.contextmanager
def local_path(storage: Readable, key: str) -> Iterator[str]:
    """A path the capped child can open: local storage's own file, else a temporary copy."""
    if hasattr(storage, "path"):
        yield str(storage.path(key))
        return
    with tempfile.NamedTemporaryFile(prefix="lodge-archive-") as copy:
        for chunk in storage.read(key):
            copy.write(chunk)
        copy.flush()
        yield copy.name


def _format_checks(
    head: bytes, is_zip: bool, filename: str, size: int, rules: dict[str, Any]
) -> tuple[str, list[dict[str, Any]], bool]:
    """The checks on a file's name and first bytes, and whether its content is worth opening
    (not empty, no polyglot)."""
    media_type = checks.sniff(head) if size else "application/x-empty"
    found = [checks.size_check(size, rules)]
    refused = checks.extension_check(filename, rules)
    if refused:
        found.append(refused)
    if not size:
        return media_type, found, False
    if checks.is_polyglot(head, is_zip):
        found.append(checks.polyglot_check())
        return media_type, found, False
    found.append(checks.format_check(filename, media_type, head))
    not_allowed = checks.media_type_check(media_type, rules)
    if not_allowed:
        found.append(not_allowed)
    return media_type, found, True


def _deferred(kind: str = "archive") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return (
        [checks.result("archive", True, "archive_listing_deferred")],
        {
            "kind": kind,
            "entries": [],
            "entry_count": 0,
            "expanded_size": 0,
            "truncated": False,
            "deferred": True,
        },
    )


def _archive_checks(
    storage: Readable, key: str, size: int, limits: ArchiveLimits, full: bool
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Open an archive or compressed file in the capped child: its check and listing. A
    pre-check that cannot finish quickly leaves the decision to the full check; a full check
    that cannot finish within the limits fails."""
    if not full and not hasattr(storage, "path") and size > QUICK_COPY:
        return _deferred()  # copying a large object is no quick check
    with local_path(storage, key) as path:
        answer = technical.inspect_archive(
            path, dataclasses.asdict(limits), full, limits.seconds if full else QUICK_SECONDS
        )
    if "problem" in answer:
        problem = answer["problem"]
        return [checks.result("archive", False, problem["code"], **problem["params"])], None
    if "error" in answer:
        if not full:
            return _deferred()
        return [checks.result("archive", False, "archive_unchecked", detail=answer["error"])], None
    listing = answer["listing"]
    if listing is None:
        return [], None
    if listing["deferred"]:
        return _deferred(listing["kind"])
    expanded = human_size(listing["expanded_size"])
    if listing["kind"] == "compressed" and not listing["entry_count"]:
        return [checks.result("archive", True, "compressed_ok", expanded=expanded)], None
    return [
        checks.result(
            "archive", True, "archive_ok", count=listing["entry_count"], expanded=expanded
        )
    ], listing


def _file_checks(
    storage: Readable,
    key: str,
    head: bytes,
    is_zip: bool,
    filename: str,
    size: int,
    rules: dict[str, Any],
    limits: ArchiveLimits,
    full: bool,
) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
    media_type, found, inspectable = _format_checks(head, is_zip, filename, size, rules)
    archive = None
    if inspectable and archive_kind(head):
        more, archive = _archive_checks(storage, key, size, limits, full)
        found += more
    return media_type, found, archive


class _Hashing:
    """Chunks passed through unchanged, hashed on the way."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = chunks
        self._sha256 = hashlib.sha256()
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._sha256.update(chunk)
            yield chunk
        self.finished = True

    def sha256(self) -> str:
        return self._sha256.hexdigest()


def precheck(
    storage: Readable,
    key: str,
    filename: str,
    rules: dict[str, Any],
    limits: ArchiveLimits | None = None,
) -> dict[str, Any]:
    limits = limits or archive_limits(get_settings())
    size = storage.size(key)
    if hasattr(storage, "open") or size <= QUICK_COPY:
        with seekable(storage, key) as handle:
            head = handle.read(checks.SNIFF_BYTES)
            is_zip = zipfile.is_zipfile(handle)
    else:  # copying a large object from a backend without random access is no quick check;
        head, is_zip = storage.head(key, checks.SNIFF_BYTES), False  # the full check decides
    media_type, found, archive = _file_checks(
        storage, key, head, is_zip, filename, size, rules, limits, False
    )
    return checks.file_report(filename, media_type, found, archive=archive)


def full_check(
    storage: Readable,
    stored: dict[str, Any],
    rules: dict[str, Any],
    scanner: Clamd,
    limits: ArchiveLimits | None = None,
) -> dict[str, Any]:
    """Every check on one submitted file; the report carries its technical metadata."""
    limits = limits or archive_limits(get_settings())
    key = stored["storage_key"]
    if not storage.exists(key):
        return {
            "file_id": stored["id"],
            **checks.file_report(
                stored["filename"],
                stored["media_type"],
                [checks.fixity_check(stored["sha256"], None)],
            ),
        }
    size = storage.size(key)
    with seekable(storage, key) as handle:
        head = handle.read(checks.SNIFF_BYTES)
        is_zip = zipfile.is_zipfile(handle)
    media_type, found, archive = _file_checks(
        storage, key, head, is_zip, stored["filename"], size, rules, limits, True
    )
    hashing = _Hashing(storage.read(key))
    if size and (rules.get("virus_scan") or scanner.configured):
        found.append(checks.virus_check(scanner.scan(hashing)))
    elif size:
        found.append(checks.virus_check(None))
    # the scan's pass over the file hashes it too; a second read only if the scan stopped early
    actual = hashing.sha256() if hashing.finished else storage.digest(key).sha256
    found.append(checks.fixity_check(stored["sha256"], actual))
    facts = {}
    if size and all(c["passed"] for c in found):  # never parse what already failed
        try:
            facts = technical.measure(media_type, storage.read(key)) or {}
        except technical.Unreadable as err:
            found.append(checks.result("technical", True, "technical_unreadable", detail=str(err)))
    return {
        "file_id": stored["id"],
        **checks.file_report(
            stored["filename"], media_type, found, archive=archive, technical=facts
        ),
    }


def validate_deposit(
    storage: Readable, deposit: dict[str, Any], scanner: Clamd
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report for a submitted deposit, and the snapshot with each file's technical dict."""
    rules = deposit["profile"]["file_rules"]
    reports = [full_check(storage, stored, rules, scanner) for stored in deposit["files"]]
    measured = {r["file_id"]: r.get("technical") or {} for r in reports}
    snapshot = {
        **deposit,
        "files": [{**f, "technical": measured.get(f["id"], {})} for f in deposit["files"]],
    }
    report = checks.build_report(
        deposit["revision"], checks.deposit_checks(deposit["files"], rules), reports
    )
    return report, snapshot
