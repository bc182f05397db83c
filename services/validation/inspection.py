"""Runs the checks on files in storage: the quick pre-check at upload, the full check after submit.

Pre-check (synchronous at upload, seconds even for a huge file): size, extension, format from
the first 64 KiB, programs and double extensions, the PDF/ZIP polyglot test, the profile's
media types, and an archive listing from headers only (zip's central directory; a compressed
tar only up to 64 MiB). Full check (after submit): the same plus every archive entry
decompressed and counted, the clamd scan, the SHA-256 again from staging, and technical
metadata.
"""
from __future__ import annotations

import contextlib
import hashlib
import tempfile
import zipfile
from typing import BinaryIO, Iterable, Iterator

from services.validation import checks, technical
from services.validation.archives import (ArchiveLimits, ArchiveProblem, Listing, archive_kind,
                                         inspect)

QUICK_COPY = 64 * 1024 ** 2  # the pre-check copies at most this from a backend without open()
from services.validation.scanner import Clamd


@contextlib.contextmanager
def seekable(storage, key: str) -> Iterator[BinaryIO]:
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


def _content_checks(head: bytes, handle: BinaryIO | None, filename: str, size: int, rules: dict,
                    limits: ArchiveLimits, full: bool) -> tuple[str, list[dict], dict | None]:
    """The checks on a file's content; with no handle (only its head at hand), the polyglot
    test and the archive listing wait for the full check."""
    media_type = checks.sniff(head) if size else "application/x-empty"
    found = [checks.size_check(size, rules)]
    refused = checks.extension_check(filename, rules)
    if refused:
        found.append(refused)
    if not size:
        return media_type, found, None
    if handle is not None and checks.is_polyglot(head, zipfile.is_zipfile(handle)):
        found.append(checks.polyglot_check())
        return media_type, found, None
    found.append(checks.format_check(filename, media_type, head))
    not_allowed = checks.media_type_check(media_type, rules)
    if not_allowed:
        found.append(not_allowed)
    if handle is None:
        listing = Listing("archive", deferred=True) if archive_kind(head) else None
    else:
        handle.seek(0)
        try:
            listing = inspect(handle, size, head, limits, expand=full)
        except ArchiveProblem as problem:
            found.append(checks.result("archive", False, problem.code, **problem.params))
            return media_type, found, None
    if listing is None:
        return media_type, found, None
    if listing.deferred:
        found.append(checks.result("archive", True, "archive_listing_deferred"))
    else:
        found.append(checks.result("archive", True, "archive_ok", count=listing.entry_count,
                                   expanded=checks.human_size(listing.expanded_size)))
    return media_type, found, listing.as_report()


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


def precheck(storage, key: str, filename: str, rules: dict,
             limits: ArchiveLimits = ArchiveLimits()) -> dict:
    size = storage.size(key)
    if hasattr(storage, "open") or size <= QUICK_COPY:
        with seekable(storage, key) as handle:
            head = handle.read(checks.SNIFF_BYTES)
            media_type, found, archive = _content_checks(head, handle, filename, size, rules,
                                                         limits, False)
    else:  # copying a large object from a backend without random access is no quick check
        media_type, found, archive = _content_checks(storage.head(key, checks.SNIFF_BYTES), None,
                                                     filename, size, rules, limits, False)
    return checks.file_report(filename, media_type, found, archive=archive)


def full_check(storage, stored: dict, rules: dict, scanner: Clamd,
               limits: ArchiveLimits = ArchiveLimits()) -> dict:
    """Every check on one submitted file; the report carries its technical metadata."""
    key = stored["storage_key"]
    if not storage.exists(key):
        return {"file_id": stored["id"], **checks.file_report(
            stored["filename"], stored["media_type"], [checks.fixity_check(stored["sha256"], None)])}
    size = storage.size(key)
    with seekable(storage, key) as handle:
        head = handle.read(checks.SNIFF_BYTES)
        media_type, found, archive = _content_checks(head, handle, stored["filename"], size,
                                                     rules, limits, True)
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
    return {"file_id": stored["id"], **checks.file_report(
        stored["filename"], media_type, found, archive=archive, technical=facts)}


def validate_deposit(storage, deposit: dict, scanner: Clamd) -> tuple[dict, dict]:
    """The report for a submitted deposit, and the snapshot with each file's technical dict."""
    rules = deposit["profile"]["file_rules"]
    reports = [full_check(storage, stored, rules, scanner) for stored in deposit["files"]]
    measured = {r["file_id"]: r.get("technical") or {} for r in reports}
    snapshot = {**deposit, "files": [{**f, "technical": measured.get(f["id"], {})}
                                     for f in deposit["files"]]}
    report = checks.build_report(deposit["revision"],
                                 checks.deposit_checks(deposit["files"], rules), reports)
    return report, snapshot
