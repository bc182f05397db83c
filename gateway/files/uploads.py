"""Streaming uploads: request body → staging storage, hashed as it streams, never held whole.

Raw bodies are read in chunks straight from the WSGI stream. Multipart bodies go through
werkzeug's event-based MultipartDecoder, so no spooled temporary file writes the data twice.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
import uuid
from collections.abc import Iterator

import magic
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    NeedData,
)

from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import InvalidInput, TooLarge
from kernel.platform.storage import CHUNK_SIZE, StoredObject, get_storage
from kernel.policy import text
from kernel.policy.text import user_pattern

MAX_FILENAME_BYTES = 255
MAX_PARTS = 16
_CONTROL = user_pattern(r"[\x00-\x1f\x7f]")
_SEPARATOR = user_pattern(r"[\\/]")


def sanitise_filename(raw: str | None) -> str:
    """The depositor's file name as safe metadata: no path, no control characters,
    no leading dots, at most 255 bytes, extension kept; other text's refused characters
    (a bidirectional override, a lone surrogate) are refused."""
    if not raw:
        raise InvalidInput("Name the file.", fields={"filename": ["is required"]})
    name = unicodedata.normalize("NFC", raw)
    name = _SEPARATOR.split(name)[-1]
    name = _CONTROL.sub("", name).strip().lstrip(".").strip()
    problem = text.problem(name)
    if problem:  # a bidirectional override disguises the extension: refused, not dropped
        raise InvalidInput(f"The file name {problem}.", fields={"filename": [problem]})
    if not name:
        raise InvalidInput(
            "The file name has no usable characters.",
            fields={"filename": ["has no usable characters"]},
        )
    if len(name.encode()) > MAX_FILENAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and len(ext.encode()) <= 16 else ""
        stem = stem if dot else name
        budget = MAX_FILENAME_BYTES - len(ext.encode()) - (1 if ext else 0)
        stem = stem.encode()[:budget].decode(errors="ignore")
        name = f"{stem}.{ext}" if ext else stem
    return name


def raw_chunks(stream) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


class MultipartUpload:
    """Finds the part named 'file' in a multipart body and yields its bytes as they arrive."""

    def __init__(self, stream, content_type: str, max_size: int):
        _, options = parse_options_header(content_type)
        boundary = options.get("boundary")
        if not boundary:
            raise InvalidInput(
                "The multipart body has no boundary.", fields={"file": ["malformed multipart body"]}
            )
        self.stream = stream
        # the decoder's buffer holds at most what one read adds to what is left over, so
        # bound it by two reads (it refuses any single receive larger than this bound)
        self.decoder = MultipartDecoder(boundary.encode(), max_form_memory_size=2 * CHUNK_SIZE)
        self.filename: str | None = None
        self.max_size = max_size
        self._events = self._iter_events()

    def _iter_events(self):
        parts = 0
        while True:
            try:
                event = self.decoder.next_event()
                if isinstance(event, NeedData):
                    chunk = self.stream.read(CHUNK_SIZE)
                    self.decoder.receive_data(chunk or None)
                    continue
            except ValueError:  # werkzeug's word for a body that breaks the multipart format
                raise InvalidInput(
                    "The multipart body is malformed.",
                    fields={"file": ["malformed multipart body"]},
                ) from None
            if isinstance(event, (Field, File)):
                parts += 1
                if parts > MAX_PARTS:
                    raise InvalidInput(
                        f"A multipart upload may have at most {MAX_PARTS} parts.",
                        fields={"file": ["too many parts"]},
                    )
            if isinstance(event, Epilogue):
                return
            yield event

    def open(self) -> None:
        """Advance to the 'file' part and take its file name."""
        for event in self._events:
            if isinstance(event, File) and event.name == "file":
                self.filename = event.filename
                return
        raise InvalidInput(
            "The multipart body has no part named 'file'.", fields={"file": ["is required"]}
        )

    def chunks(self) -> Iterator[bytes]:
        for event in self._events:
            if not isinstance(event, Data):
                continue
            if event.data:
                yield event.data
            if not event.more_data:
                return


def expected_digests(headers) -> dict[str, str]:
    """Checksums the client vouches for: `Digest: sha-256=<base64>` and `Content-MD5`."""
    expected = {}
    for item in headers.get("Digest", "").split(","):
        algorithm, _, value = item.strip().partition("=")
        if algorithm.lower() in ("sha-256", "md5") and value:
            expected[algorithm.lower().replace("-", "")] = value
    if headers.get("Content-MD5"):
        expected["md5"] = headers["Content-MD5"].strip()
    decoded = {}
    for algorithm, value in expected.items():
        try:
            decoded[algorithm] = base64.b64decode(value, validate=True).hex()
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "A checksum header is not valid base64.", fields={algorithm: ["is not base64"]}
            ) from None
    return decoded


def verify_digests(stored: StoredObject, expected: dict[str, str]) -> None:
    actual = {"sha256": stored.sha256, "md5": stored.md5}
    wrong = {
        name: ["does not match the uploaded bytes"]
        for name, value in expected.items()
        if actual[name] != value
    }
    if wrong:
        raise InvalidInput(
            "The file arrived damaged: its checksum differs from the one sent.", fields=wrong
        )


def check_declared_length(content_length: int | None, limit: int) -> None:
    if content_length is not None and content_length > limit:
        raise TooLarge(
            f"The file is larger than the limit of {limit} bytes.",
            fields={"file": [f"larger than {limit} bytes"]},
        )


def sniff_media_type(head: bytes) -> str:
    return magic.from_buffer(head, mime=True) if head else "application/x-empty"


def add_staged_file(
    services, actor: Actor, deposit_id: str, filename: str, stored: StoredObject
) -> dict:
    """Register a complete staged object with intake, which checks the profile's rules and
    the depositor's quota again; the object is deleted if intake refuses it, and also when
    intake answers a call it had carried out already (a request run again after a crash):
    then the file of the first run is the one on the deposit."""
    storage = get_storage()
    try:
        record = {
            "id": uuid.uuid4().hex,
            "filename": filename,
            "size": stored.size,
            "sha256": stored.sha256,
            "md5": stored.md5,
            "storage_key": stored.key,
            "media_type": sniff_media_type(storage.head(stored.key)),
        }
        created = services.intake.add_file(actor=actor, deposit_id=deposit_id, file=record)
    except BaseException:
        storage.delete(stored.key)
        raise
    if created.get("storage_key", stored.key) != stored.key:
        storage.delete(stored.key)
    return created
