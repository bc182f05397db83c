"""Resumable uploads (tus 1.0): where unfinished uploads grow, and how they are finished.

An upload is two files in the upload folder (LODGE_UPLOAD_DIR, beside local storage by
default; a volume every gateway shares when gateways scale out): `<id>.json`, what was
declared (deposit, owner, file name, length, expiry), and `<id>.part`, the bytes so far.
The offset is the size of the part file, fsynced after every PATCH, so any gateway process
can continue any upload. Writes to one upload are serialised with an exclusive lock.

SHA-256 and MD5 are taken as bytes arrive, beside the write (`fan_out`). Their state is
saved in `<id>.json` after each PATCH (kernel/platform/hashstate.py), for the size the part
file has then, so the next PATCH continues it in whichever gateway process it lands. Where
no saved state fits the part file (a PATCH cut off by a dropped connection, a gateway built
on another OpenSSL), the finished upload is read back and hashed once, after its last chunk.

A patron may have LODGE_QUOTA_UPLOADS unfinished uploads at once (429 past it), and their
declared lengths must fit in the room intake leaves for staged bytes (413 past it). Creating
an upload counts and reserves under the patron's lock file, so parallel requests in any
gateway process cannot both take the last room.

Abandoned uploads expire LODGE_UPLOAD_EXPIRY_SECONDS after their last chunk; `expire()`
deletes them. It runs from `lodge expire-uploads` (schedule it: a systemd timer or a
Kubernetes CronJob) and, at most once a minute, whenever a gateway process creates an upload.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kernel.contracts.exceptions import (
    Conflict,
    InvalidInput,
    LodgeError,
    NotFound,
    QuotaExceeded,
    TooLarge,
)
from kernel.platform.hashstate import ResumableHasher
from kernel.platform.storage import Hasher, StoredObject, WriteBehind, fan_out, read_file
from kernel.policy.text import user_pattern

UPLOAD_ID = user_pattern(r"^[0-9a-f]{32}$")
CHUNK_CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
SWEEP_INTERVAL = 60.0
# how long asking after an upload waits for a PATCH that is still writing
SETTLE_SECONDS = 5.0


class Gone(LodgeError):
    code = "gone"


class ChecksumMismatch(LodgeError):
    code = "checksum_mismatch"


class UnsupportedChecksum(LodgeError):
    """tus: an algorithm the server does not offer is a 400."""

    code = "unsupported_checksum"


@dataclass
class Upload:
    id: str
    deposit_id: str
    owner_id: str
    filename: str
    length: int
    expires_at: float
    expected: dict[str, str] = field(default_factory=dict)  # whole-file sha256 / md5, hex
    metadata: str = ""  # Upload-Metadata as the client sent it: HEAD gives it back
    file: dict | None = None  # the registered file, once finished
    precheck: dict | None = None
    # the profile's rules when it began, for the pre-check once finished: asking intake then
    # would be refused when this file took the last room
    file_rules: dict | None = None
    # SHA-256 and MD5 of the part file so far (ResumableHasher.state), if they are known
    hash_state: dict | None = None


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus Upload-Metadata: `key base64value,key2 base64value2`."""
    metadata = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, value = pair.strip().partition(" ")
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "Upload-Metadata is not valid.",
                fields={key or "Upload-Metadata": ["is not base64 of UTF-8"]},
            ) from None
    return metadata


def parse_chunk_checksum(header: str | None):
    """tus Upload-Checksum: `<algorithm> <base64 digest>` → (hash object, expected bytes)."""
    if not header:
        return None
    algorithm, _, value = header.strip().partition(" ")
    factory = CHUNK_CHECKSUMS.get(algorithm.lower())
    if factory is None:
        offered = ", ".join(CHUNK_CHECKSUMS)
        raise UnsupportedChecksum(
            f"Checksum algorithm {algorithm[:40]!r} is not supported.",
            fields={"Upload-Checksum": [f"use one of {offered}"]},
        )
    try:
        expected = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "Upload-Checksum is not valid base64.", fields={"Upload-Checksum": ["is not base64"]}
        ) from None
    return factory(), expected


def _lock_shared(handle) -> bool:
    """A shared lock on the part file (released when it is closed); False while a PATCH
    holds it."""
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class UploadArea:
    def __init__(self, directory: Path, expiry_seconds: int):
        self.directory = Path(directory)
        self.expiry_seconds = expiry_seconds
        self._last_sweep = 0.0

    # --- files ----------------------------------------------------------------------

    def _info_path(self, upload_id: str) -> Path:
        if not UPLOAD_ID.match(upload_id):
            raise NotFound("There is no such upload.")
        return self.directory / f"{upload_id}.json"

    def part_path(self, upload_id: str) -> Path:
        return self._info_path(upload_id).with_suffix(".part")

    def _read_info(self, upload_id: str) -> Upload:
        return Upload(**json.loads(self._info_path(upload_id).read_text()))

    def _write_info(self, upload: Upload) -> None:
        path = self._info_path(upload.id)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        temporary.write_text(json.dumps(asdict(upload)))
        os.replace(temporary, path)

    # --- lifecycle ----------------------------------------------------------------------

    def create(
        self,
        deposit_id: str,
        owner_id: str,
        filename: str,
        length: int,
        expected: dict[str, str],
        max_uploads: int,
        staged_room: int,
        file_rules: dict | None = None,
        metadata: str = "",
    ) -> Upload:
        """A new upload, if the owner has fewer than `max_uploads` unfinished and its length
        fits in `staged_room` beside theirs."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sweep_now_and_then()
        with self._owner_lock(owner_id):
            unfinished = self.unfinished(owner_id)
            if len(unfinished) >= max_uploads:
                raise QuotaExceeded(
                    f"You have {len(unfinished)} unfinished uploads, the most allowed "
                    f"({max_uploads}); finish or cancel one first.",
                    fields={"uploads": [f"{len(unfinished)} of {max_uploads} used"]},
                )
            room = staged_room - sum(upload.length for upload in unfinished)
            if length > room:
                raise TooLarge(
                    f"Your unfinished deposits and uploads have room for {max(room, 0)} more "
                    f"bytes; this upload declares {length}.",
                    fields={"staged_bytes": [f"{max(room, 0)} bytes left"]},
                )
            upload = Upload(
                uuid.uuid4().hex,
                deposit_id,
                owner_id,
                filename,
                length,
                time.time() + self.expiry_seconds,
                expected,
                file_rules=file_rules,
                metadata=metadata,
            )
            self.part_path(upload.id).touch(exist_ok=False)
            self._write_info(upload)
        return upload

    def unfinished(self, owner_id: str) -> list[Upload]:
        """The owner's uploads still taking bytes (not finished, not expired)."""
        now, found = time.time(), []
        for info in self.directory.glob("*.json"):
            try:
                upload = Upload(**json.loads(info.read_text()))
            except (OSError, ValueError, TypeError):  # deleted or half-written meanwhile
                continue
            if upload.owner_id == owner_id and upload.file is None and upload.expires_at >= now:
                found.append(upload)
        return found

    @contextlib.contextmanager
    def _owner_lock(self, owner_id: str):
        locks = self.directory / "owners"
        locks.mkdir(exist_ok=True)
        name = hashlib.sha256(owner_id.encode()).hexdigest()
        with open(locks / f"{name}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def get(self, upload_id: str, deposit_id: str, owner_id: str) -> Upload:
        """The upload, if it belongs to this deposit and person; 404 otherwise, 410 if expired."""
        try:
            upload = self._read_info(upload_id)
        except FileNotFoundError:
            raise NotFound("There is no such upload.") from None
        if upload.deposit_id != deposit_id or upload.owner_id != owner_id:
            raise NotFound("There is no such upload.")
        if upload.file is None and upload.expires_at < time.time():
            self.delete(upload.id)
            raise Gone("This upload expired; start it again.")
        return upload

    @staticmethod
    def require_unfinished(upload: Upload) -> None:
        if upload.file is not None:
            raise Conflict(
                "This upload is already complete.", fields={"Upload-Offset": ["complete"]}
            )

    def settled(self, upload_id: str, deposit_id: str, owner_id: str) -> Upload:
        """The upload as `get` gives it, once no PATCH is writing to it (waiting up to
        SETTLE_SECONDS): the server's side of a PATCH whose client went away may not have
        noticed yet, and the PATCH that completes an upload holds it until its file is
        registered. A client that resumes from the offset it is given is then not refused as
        busy, and one that asks after its last PATCH sees the file."""
        upload = self.get(upload_id, deposit_id, owner_id)
        if upload.file is not None:
            return upload
        # no part file: finished or removed meanwhile, which `get` then says
        with contextlib.suppress(FileNotFoundError), open(self.part_path(upload.id), "rb") as part:
            deadline = time.monotonic() + SETTLE_SECONDS
            while not _lock_shared(part) and time.monotonic() < deadline:
                time.sleep(0.05)
        return self.get(upload_id, deposit_id, owner_id)

    def offset(self, upload: Upload) -> int:
        if upload.file is not None:
            return upload.length
        try:
            return self.part_path(upload.id).stat().st_size
        except FileNotFoundError:  # its last PATCH is moving it into storage
            return upload.length

    def delete(self, upload_id: str) -> None:
        self.part_path(upload_id).unlink(missing_ok=True)
        self._info_path(upload_id).unlink(missing_ok=True)

    @contextlib.contextmanager
    def locked(self, upload: Upload):
        """One writer per upload, across processes; a second one at once is a 409."""
        with open(self.part_path(upload.id), "r+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(
                    "Another request is writing to this upload.",
                    fields={"Upload-Offset": ["upload busy"]},
                ) from None
            yield handle

    def append(
        self,
        upload: Upload,
        offset: int,
        chunks: Iterator[bytes],
        checksum_header: str | None,
        complete: Callable[[], None] | None = None,
    ) -> int:
        """Write a PATCH's bytes at `offset`; returns the new offset. Bytes received before a
        dropped connection are kept (the client resumes after them), unless the chunk had a
        checksum to verify; a checksum mismatch or bytes past the declared length keep none.
        `complete` runs once the last byte is in, still holding the upload (`settled`)."""
        chunk_checksum = parse_chunk_checksum(checksum_header)
        with self.locked(upload) as handle:
            current = os.fstat(handle.fileno()).st_size
            if offset != current:
                raise Conflict(
                    f"The upload is at byte {current}, not {offset}.",
                    fields={"Upload-Offset": [f"must be {current}"]},
                )
            # the state the last PATCH saved, whichever process ran it: read under the lock
            try:
                upload.hash_state = self._read_info(upload.id).hash_state
            except FileNotFoundError:  # expired and swept meanwhile
                raise NotFound("There is no such upload.") from None
            hasher = (
                ResumableHasher.new()
                if current == 0
                else ResumableHasher.resume(upload.hash_state, current)
            )
            writer = WriteBehind(handle.fileno(), current)
            sinks = [writer.write, *(hasher.sinks() if hasher else [])]
            if chunk_checksum:
                sinks.append(chunk_checksum[0].update)
            try:
                fan_out(self._within(upload, current, chunks), sinks)
                if chunk_checksum and chunk_checksum[0].digest() != chunk_checksum[1]:
                    raise ChecksumMismatch(
                        "The chunk arrived damaged: its checksum differs.",
                        fields={"Upload-Checksum": ["does not match the bytes"]},
                    )
            except (TooLarge, ChecksumMismatch):
                self._truncate(handle, current)
                raise
            except Exception:
                if chunk_checksum:  # an unverifiable partial chunk is not kept
                    self._truncate(handle, current)
                    raise
                # what arrived is kept, unhashed: the state saved before no longer fits the
                # part file, so the finished upload is hashed again
                self._sync(handle)
                raise
            self._sync(handle)
            size = writer.offset
            upload.hash_state = hasher.state(size) if hasher else None
            upload.expires_at = time.time() + self.expiry_seconds
            self._write_info(upload)
            if size == upload.length and complete is not None:
                complete()
        return size

    @staticmethod
    def _within(upload: Upload, offset: int, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The chunks, refusing the first byte past the upload's declared length."""
        size = offset
        for chunk in chunks:
            if size + len(chunk) > upload.length:
                raise TooLarge(
                    f"The upload declared {upload.length} bytes; more arrived.",
                    fields={"file": [f"more than the {upload.length} bytes declared"]},
                )
            size += len(chunk)
            yield chunk

    def digests(self, upload: Upload) -> StoredObject:
        """Size and checksums of the finished bytes: from the state the PATCHes saved, or
        else read back from the part file."""
        hasher = ResumableHasher.resume(upload.hash_state, upload.length)
        if hasher is not None:
            return hasher.stored(upload.id, upload.length)
        rehashed = Hasher()
        rehashed.feed(read_file(self.part_path(upload.id)))
        return rehashed.stored(upload.id)

    def finished(self, upload: Upload, file: dict, precheck: dict | None) -> None:
        """Keep the record of what the upload became (the part file has moved to storage)."""
        upload.file, upload.precheck, upload.hash_state = file, precheck, None
        self._write_info(upload)

    @staticmethod
    def _truncate(handle, size: int) -> None:
        handle.truncate(size)
        UploadArea._sync(handle)

    @staticmethod
    def _sync(handle) -> None:
        handle.flush()
        os.fsync(handle.fileno())

    # --- expiry -------------------------------------------------------------------------

    def expire(self, now: float | None = None) -> list[str]:
        """Delete uploads whose time ran out, finished or not; the ids deleted."""
        now = time.time() if now is None else now
        removed: list[str] = []
        if not self.directory.is_dir():
            return removed
        for info in self.directory.glob("*.json"):
            try:
                expires_at = json.loads(info.read_text())["expires_at"]
            except (OSError, ValueError, KeyError):
                continue
            if expires_at < now:
                self.delete(info.stem)
                removed.append(info.stem)
        for part in self.directory.glob("*.part"):  # left by a crash between the two files
            with contextlib.suppress(OSError):
                if (
                    not part.with_suffix(".json").exists()
                    and part.stat().st_mtime + self.expiry_seconds < now
                ):
                    part.unlink()
                    removed.append(part.stem)
        return removed

    def sweep_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            self.expire()
