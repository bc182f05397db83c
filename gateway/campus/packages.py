"""SimpleZip packages (SWORD v2): a zip whose files become the deposit's files.

The zip arrives whole in staging first (streamed, capped and checksummed like any upload);
then its central directory is checked before a byte is unpacked: how many entries, their
names (no absolute paths, no `..`, no links), their declared sizes against the profile's
limits, and each entry's and the whole zip's compression ratio. Unpacking reads no more of
an entry than it declares and checks its CRC (zipfile does), so a header that lies is
refused; each entry also streams into staging under a cap of its own and of the whole.
Folders in the zip are flattened: Lodge's files have names, not paths. Nested archives stay
files; validation looks inside them later.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gateway.files.uploads import sanitise_filename
from kernel.contracts.exceptions import InvalidInput, TooLarge
from kernel.platform.storage import CHUNK_SIZE, StoredObject

MAX_ENTRIES = 1000  # whatever the profile allows, a package is read no further than this
MAX_RATIO = 100  # unpacked / packed, for an entry and the whole zip
RATIO_FLOOR = 1024 * 1024  # fewer unpacked bytes than this are never a bomb
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what SimpleZip packages use


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    filename: str  # the name the deposit's file gets


def _refuse(message: str, problem: str) -> InvalidInput:
    return InvalidInput(message, fields={"package": [problem]})


def members(archive: zipfile.ZipFile, max_files: int, max_file_size: int, max_total: int):
    """The package's files, checked by what its central directory declares."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _refuse(f"A package may have at most {MAX_ENTRIES} entries.", "too many entries")
    found: list[Member] = []
    names: set[str] = set()
    declared = packed = 0
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if (
            name.startswith(("/", "\\"))
            or ".." in parts
            or posixpath.isabs(name)
            or ":" in parts[0]
        ):
            raise _refuse(f"The package names a path outside itself: {name!r}.", "unsafe path")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(f"The package holds a link: {name!r}.", "holds a link")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise _refuse(f"The package's entry {name!r} is encrypted.", "encrypted entry")
        if info.compress_type not in COMPRESSIONS:
            raise _refuse(
                f"The package's entry {name!r} is compressed in a way zip files rarely are; "
                "store or deflate it.",
                "unusual compression",
            )
        if info.file_size > max_file_size:
            raise TooLarge(
                f"The package's file {name!r} is larger than the limit of {max_file_size} bytes.",
                fields={"package": [f"a file larger than {max_file_size} bytes"]},
            )
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _refuse(
                f"The package's entry {name!r} expands more than {MAX_RATIO} times.",
                "compression ratio too high",
            )
        filename = sanitise_filename(parts[-1])
        if filename in names:
            raise _refuse(f"The package has two files named {filename!r}.", "duplicate file name")
        names.add(filename)
        declared += info.file_size
        packed += info.compress_size
        found.append(Member(info, filename))
    if not found:
        raise _refuse("The package holds no files.", "empty")
    if len(found) > max_files:
        raise _refuse(
            f"The package holds {len(found)} files; the deposit may take {max_files} more.",
            "too many files",
        )
    if declared > max_total:
        raise TooLarge(
            f"The package unpacks to more than the {max_total} bytes the deposit has room for.",
            fields={"package": [f"unpacks to more than {max_total} bytes"]},
        )
    if declared > RATIO_FLOOR and declared > MAX_RATIO * max(packed, 1):
        raise _refuse(f"The package expands more than {MAX_RATIO} times.", "compression ratio")
    return found


class _Budget:
    """Bytes left for the whole package as its entries unpack."""

    def __init__(self, total: int):
        self.left = total

    def chunks(self, stream) -> Iterator[bytes]:
        while chunk := stream.read(CHUNK_SIZE):
            self.left -= len(chunk)
            if self.left < 0:
                raise TooLarge(
                    "The package unpacks to more than it declared.",
                    fields={"package": ["unpacks to more than it declares"]},
                )
            yield chunk


def unpack(
    source,
    *,
    max_files: int,
    max_file_size: int,
    max_total: int,
    save: Callable[[Iterator[bytes], int], StoredObject],
    register: Callable[[str, StoredObject], object],
) -> None:
    """Check the zip open in `source` (a seekable binary file), then hand each file's bytes
    to `save(chunks, max_size)` and what was stored to `register(filename, stored)`. A zip
    that cannot be read, or that breaks a rule, raises InvalidInput or TooLarge."""
    try:
        with zipfile.ZipFile(source) as archive:
            budget = _Budget(max_total)
            for member in members(archive, max_files, max_file_size, max_total):
                with archive.open(member.info) as stream:
                    stored = save(budget.chunks(stream), max_file_size)
                register(member.filename, stored)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as err:
        raise _refuse(f"The package is not a readable zip file: {err}.", "not a zip") from None
