"""The abuse corpus and well-formed samples, generated in code: no committed binaries."""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import struct
import tarfile
import wave
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import zstandard

from tests.support.clamd import EICAR

EICAR_FILE = EICAR


def zipped(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def eicar_zip() -> bytes:
    return zipped([("docs/readme.txt", b"nothing to see\n"), ("docs/tool.com", EICAR)])


def zip_bomb(expanded: int = 64 * 1024**2) -> bytes:
    """One entry of zeros: a few dozen KiB that expand to `expanded` bytes."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("data.bin", "w", force_zip64=True) as entry,
    ):
        zeros = b"\0" * (1024 * 1024)
        for _ in range(expanded // len(zeros)):
            entry.write(zeros)
    return buffer.getvalue()


def zip_with_lying_header() -> bytes:
    """An entry whose header claims fewer bytes than it expands to."""
    data = bytearray(zipped([("small.txt", b"A" * 5000)]))
    central = data.rfind(b"PK\x01\x02")
    local = data.find(b"PK\x03\x04")
    for offset in (local + 22, central + 24):  # uncompressed size in both headers
        data[offset : offset + 4] = struct.pack("<I", 10)
    return bytes(data)


def nested_zips(depth: int) -> bytes:
    data = zipped([("inner.txt", b"the innermost file\n")])
    for level in range(depth - 1):
        data = zipped([(f"level{level}.zip", data)])
    return data


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("secrets")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def tarred(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()


def tar_link(kind: bytes, name: str = "link", target: str = "/etc/passwd") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


# --- archives and compressed files --------------------------------------------------------

MiB = 1024**2


def zeros_zip(entries: int, entry_size: int) -> bytes:
    """Many entries of zeros, each too small to be judged on its own ratio."""
    zeros = b"\0" * entry_size
    return zipped([(f"part{number:04}.bin", zeros) for number in range(entries)])


def zeros_tar(entries: int, entry_size: int, mode: str = "w:gz") -> bytes:
    zeros = b"\0" * entry_size
    return tarred([(f"part{number:04}.bin", zeros) for number in range(entries)], mode=mode)


@functools.cache
def compressed(kind: str, data: bytes) -> bytes:
    """`data` as one .gz, .bz2, .xz or .zst stream."""
    return {
        "gz": gzip.compress,
        "bz2": bz2.compress,
        "xz": lzma.compress,
        "zst": zstandard.ZstdCompressor().compress,
    }[kind](data)


@functools.cache
def compressed_zeros(kind: str, size: int) -> bytes:
    """A compression bomb: `size` zeros in one stream (200 MiB gzip into 204 KB)."""
    return compressed(kind, b"\0" * size)


def nested_compressed(layers: int) -> bytes:
    data = b"the innermost text\n"
    for _ in range(layers):
        data = gzip.compress(data)
    return data


def xz_with_huge_window() -> bytes:
    """A small .xz whose header asks the decoder for a 4 GiB dictionary."""
    data = bytearray(lzma.compress(TEXT, check=lzma.CHECK_CRC32))
    header_size = (data[12] + 1) * 4  # the block header, after the 12-byte stream header
    data[16] = 40  # LZMA2's dictionary size byte: 4 GiB - 1
    end = 12 + header_size
    data[end - 4 : end] = struct.pack("<I", zlib.crc32(bytes(data[12 : end - 4])))
    return bytes(data)


def _local_header(
    name: bytes, crc: int, packed: int, size: int, method: int = 8, flags: int = 0
) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            packed,
            size,
            len(name),
            0,
        )
        + name
    )


def _central_entry(
    name: bytes, crc: int, packed: int, size: int, offset: int, method: int = 8, flags: int = 0
) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            packed,
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        + name
    )


def _end_record(count: int, directory: bytes, offset: int) -> bytes:
    return directory + struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(directory), offset, 0
    )


def _deflated(data: bytes) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush()


def overlapping_zip(entries: int = 200, kernel_size: int = MiB) -> bytes:
    """David Fifield's quoted-overlap zip bomb: each entry's deflate stream quotes the next
    entry's local header in a stored block and runs on into that entry's data, so every
    entry re-inflates one shared kernel. Small and honest-looking: each entry's own ratio
    and declared size are modest, yet the whole inflates quadratically."""
    kernel = _deflated(b"\0" * kernel_size)
    names = [f"{number:04}.bin".encode() for number in range(entries)]
    # built from the last entry back: each entry's header quotes the headers after it
    quoted, packed, size = b"", len(kernel), kernel_size
    headers = []
    for name in reversed(names):
        crc = zlib.crc32(b"\0" * kernel_size, zlib.crc32(quoted))
        header = _local_header(name, crc, packed, size)
        headers.insert(0, (header, crc, packed, size))
        stored_block = b"\0" + struct.pack("<HH", len(header), len(header) ^ 0xFFFF)
        quoted, packed, size = (
            header + quoted,
            packed + len(stored_block) + len(header),
            size + len(header),
        )
    body, directory = bytearray(), bytearray()
    for number, (header, crc, packed, size) in enumerate(headers):
        directory += _central_entry(names[number], crc, packed, size, len(body))
        body += header
        if number + 1 < len(headers):
            following = headers[number + 1][0]
            body += b"\0" + struct.pack("<HH", len(following), len(following) ^ 0xFFFF)
    body += kernel
    return bytes(body) + _end_record(entries, bytes(directory), len(body))


def zip_sharing_one_entry(entries: int = 200, kernel_size: int = MiB) -> bytes:
    """The fully overlapping variant: every directory entry names the same local file."""
    kernel = _deflated(b"\0" * kernel_size)
    crc = zlib.crc32(b"\0" * kernel_size)
    body = _local_header(b"0000.bin", crc, len(kernel), kernel_size) + kernel
    directory = b"".join(
        _central_entry(f"{number:04}.bin".encode(), crc, len(kernel), kernel_size, 0)
        for number in range(entries)
    )
    return body + _end_record(entries, directory, len(body))


def zip_with_encrypted_entry() -> bytes:
    secret = b"\x01" * 12 + b"ciphertext"  # a traditional encryption header, then the data
    header = _local_header(b"secret.txt", 0, len(secret), 10, method=0, flags=1)
    directory = _central_entry(b"secret.txt", 0, len(secret), 10, 0, method=0, flags=1)
    return header + secret + _end_record(1, directory, len(header) + len(secret))


def tar_device(kind: bytes = tarfile.CHRTYPE, name: str = "dev/null") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


def minimal_office(kind: str) -> bytes:
    """A word-processing file as its program writes it: a zip with a known first entry."""
    if kind == "docx":
        return zipped(
            [
                (
                    "[Content_Types].xml",
                    b'<?xml version="1.0"?><Types xmlns="http://schemas'
                    b'.openxmlformats.org/package/2006/content-types"/>',
                ),
                ("word/document.xml", b"<w:document/>" + b"<w:p>text</w:p>" * 500),
            ]
        )
    mimetype = {"odt": b"application/vnd.oasis.opendocument.text", "epub": b"application/epub+zip"}[
        kind
    ]
    return zipped(
        [
            ("mimetype", mimetype),
            ("META-INF/container.xml", b"<container/>"),
            ("content.xml", b"<text>" + b"<p>words</p>" * 500 + b"</text>"),
        ],
        method=zipfile.ZIP_STORED,
    )


def tar_with_foreign_names() -> bytes:
    """Names as an old Latin-1 system writes them, one with a control character, one with a
    right-to-left override that would show "evil\u202etxt.exe" as "evilexe.txt"."""
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer,
        mode="w",
        format=tarfile.GNU_FORMAT,
        encoding="latin-1",
        errors="surrogateescape",
    ) as archive:
        for name in ("café.txt", "tab\x0bbed.txt", "evil\u202etxt.exe".encode().decode("latin-1")):
            info = tarfile.TarInfo(name)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"x"))
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    filename: str
    make: Callable[[], bytes]
    code: str  # the archive check's code
    full_only: bool = False  # found only when everything is inflated, after submit


TEXT = b"station,level\n" + b"".join(b"%d,%d\n" % (n, n * 7 % 13) for n in range(2000))

# every one must fail the archive check with its code
ABUSE = [
    Case("small-entries.zip", lambda: zeros_zip(400, 512 * 1024), "archive_bomb"),
    Case("one-entry.zip", lambda: zip_bomb(), "archive_bomb"),
    Case("small-entries.tar.gz", lambda: zeros_tar(200, 512 * 1024), "archive_bomb"),
    Case("small-entries.tar.bz2", lambda: zeros_tar(100, 512 * 1024, "w:bz2"), "archive_bomb"),
    Case("small-entries.tar.xz", lambda: zeros_tar(100, 512 * 1024, "w:xz"), "archive_bomb"),
    Case(
        "small-entries.tar.zst",
        lambda: compressed("zst", zeros_tar(100, 512 * 1024, "w")),
        "archive_bomb",
    ),
    Case("zeros.gz", lambda: compressed_zeros("gz", 200 * MiB), "archive_bomb"),
    Case("zeros.bz2", lambda: compressed_zeros("bz2", 32 * MiB), "archive_bomb"),
    Case("zeros.xz", lambda: compressed_zeros("xz", 32 * MiB), "archive_bomb"),
    Case("zeros.zst", lambda: compressed_zeros("zst", 200 * MiB), "archive_bomb"),
    Case(
        "gz-inside.zip",
        lambda: zipped(
            [(f"part{n}.gz", compressed_zeros("gz", 16 * MiB)) for n in range(4)],
            zipfile.ZIP_STORED,
        ),
        "archive_bomb",
        full_only=True,
    ),
    Case("overlapping.zip", overlapping_zip, "archive_overlapping"),
    Case("one-entry-many-names.zip", zip_sharing_one_entry, "archive_overlapping"),
    Case("lying.zip", zip_with_lying_header, "archive_damaged", full_only=True),
    Case("truncated.zip", lambda: zipped([("a.txt", TEXT)])[:-30], "archive_damaged"),
    Case("truncated.gz", lambda: compressed("gz", TEXT)[:-200], "archive_damaged"),
    Case("garbage.xz", lambda: b"\xfd7zXZ\x00" + b"\x55" * 400, "archive_damaged"),
    Case("huge-window.xz", xz_with_huge_window, "archive_unchecked"),
    Case("deep.zip", lambda: nested_zips(4), "archive_too_deep", full_only=True),
    Case("deep.gz", lambda: nested_compressed(4), "archive_too_deep", full_only=True),
    Case(
        "deep-tar.zip",
        lambda: zipped(
            [
                (
                    "a.zip",
                    zipped(
                        [("b.tar.gz", tarred([("c.tar", tarred([("d.txt", b"d")], mode="w"))]))]
                    ),
                )
            ]
        ),
        "archive_too_deep",
        full_only=True,
    ),
    Case(
        "entries.zip",
        lambda: zipped([(f"{n}", b"") for n in range(10_001)], zipfile.ZIP_STORED),
        "archive_too_many_entries",
    ),
    Case("up.zip", lambda: zipped([("../../.bashrc", b"x")]), "archive_unsafe_path"),
    Case("absolute.zip", lambda: zipped([("/etc/cron.d/job", b"x")]), "archive_unsafe_path"),
    Case("drive.zip", lambda: zipped([("C:\\Windows\\evil.dll", b"x")]), "archive_unsafe_path"),
    Case("up.tar.xz", lambda: tarred([("docs/../../x", b"x")], mode="w:xz"), "archive_unsafe_path"),
    Case("absolute.tar", lambda: tarred([("/etc/passwd", b"x")], mode="w"), "archive_unsafe_path"),
    Case("symlink.zip", zip_with_symlink, "archive_link"),
    Case("symlink.tar.gz", lambda: tarred([tar_link(tarfile.SYMTYPE)]), "archive_link"),
    Case(
        "hardlink.tar",
        lambda: tarred([tar_link(tarfile.LNKTYPE, "passwd", "../../etc/passwd")], mode="w"),
        "archive_link",
    ),
    Case("device.tar.bz2", lambda: tarred([tar_device()], mode="w:bz2"), "archive_special"),
    Case(
        "fifo.tar",
        lambda: tarred([tar_device(tarfile.FIFOTYPE, "pipe")], mode="w"),
        "archive_special",
    ),
    Case("encrypted.zip", zip_with_encrypted_entry, "archive_encrypted"),
    Case(
        "link-inside.zip",
        lambda: zipped([("inner.tar.gz", tarred([tar_link(tarfile.SYMTYPE)]))]),
        "archive_link",
        full_only=True,
    ),
]

# ordinary archives and compressed files: every one passes
BENIGN = [
    Case(
        "data.zip",
        lambda: zipped([("data/levels.csv", TEXT), ("README.txt", b"Levels.\n")]),
        "archive_ok",
    ),
    Case("data.tar.gz", lambda: tarred([("data/levels.csv", TEXT), ("data/", b"")]), "archive_ok"),
    Case("data.tar.bz2", lambda: tarred([("levels.csv", TEXT)], mode="w:bz2"), "archive_ok"),
    Case("data.tar.xz", lambda: tarred([("levels.csv", TEXT)], mode="w:xz"), "archive_ok"),
    Case(
        "data.tar.zst",
        lambda: compressed("zst", tarred([("levels.csv", TEXT)], mode="w")),
        "archive_ok",
    ),
    Case("data.tar", lambda: tarred([("levels.csv", TEXT)], mode="w"), "archive_ok"),
    Case("levels.csv.gz", lambda: compressed("gz", TEXT), "compressed_ok"),
    Case("levels.csv.bz2", lambda: compressed("bz2", TEXT), "compressed_ok"),
    Case("levels.csv.xz", lambda: compressed("xz", TEXT), "compressed_ok"),
    Case("levels.csv.zst", lambda: compressed("zst", TEXT), "compressed_ok"),
    Case("thesis.docx", lambda: minimal_office("docx"), "archive_ok"),
    Case("thesis.odt", lambda: minimal_office("odt"), "archive_ok"),
    Case("book.epub", lambda: minimal_office("epub"), "archive_ok"),
    Case("nested.zip", lambda: nested_zips(3), "archive_ok"),
    Case("foreign-names.tar", tar_with_foreign_names, "archive_ok"),
    Case(
        "bundle.zip",
        lambda: zipped(
            [
                ("run1.tar.gz", tarred([("levels.csv", TEXT)])),
                ("run2.csv.gz", compressed("gz", TEXT)),
            ]
        ),
        "archive_ok",
    ),
]


def pdf(pages: int = 2, pdfa: str | None = None, password: str | None = None) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if pdfa:
        part, conformance = pdfa[0], pdfa[1:].upper()
        xmp = StreamObject()
        xmp.set_data(
            (
                '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
                '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
                'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
                f"<pdfaid:part>{part}</pdfaid:part><pdfaid:conformance>{conformance}"
                "</pdfaid:conformance></rdf:Description></rdf:RDF></x:xmpmeta>"
                '<?xpacket end="w"?>'
            ).encode()
        )
        xmp.update(
            {
                NameObject("/Type"): NameObject("/Metadata"),
                NameObject("/Subtype"): NameObject("/XML"),
            }
        )
        writer.root_object[NameObject("/Metadata")] = writer._add_object(xmp)
    if password:
        writer.encrypt(user_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_page_tree(kids: int) -> bytes:
    """A valid PDF whose page list names one page `kids` times: slow to count, by design."""
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[" + b"3 0 R " * kids + b"]/Count %d>>" % kids,
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_zip_polyglot() -> bytes:
    """A PDF with a ZIP archive appended: readers open it as either."""
    return pdf(1) + zipped([("payload.txt", b"hidden\n")])


def windows_program() -> bytes:
    """An MZ/PE header, as a Windows .exe starts."""
    stub = bytearray(b"MZ" + b"\0" * 62)
    stub[0x3C:0x40] = struct.pack("<I", 64)
    return bytes(stub) + b"PE\0\0" + struct.pack("<HH", 0x14C, 0) + b"\0" * 200


def wav(seconds: float = 1.5, rate: int = 8000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(channels)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\0\0" * channels * int(rate * seconds))
    return buffer.getvalue()


def png(width: int = 40, height: int = 30) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()
