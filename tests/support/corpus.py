"""The abuse corpus and well-formed samples, generated in code: no committed binaries."""
from __future__ import annotations

import io
import struct
import tarfile
import wave
import zipfile

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


def zip_bomb(expanded: int = 64 * 1024 ** 2) -> bytes:
    """One entry of zeros: a few dozen KiB that expand to `expanded` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("data.bin", "w", force_zip64=True) as entry:
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
        data[offset:offset + 4] = struct.pack("<I", 10)
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
        link.external_attr = (0o120777 << 16)
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


def pdf(pages: int = 2, pdfa: str | None = None, password: str | None = None) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if pdfa:
        part, conformance = pdfa[0], pdfa[1:].upper()
        xmp = StreamObject()
        xmp.set_data((
            '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
            f'<pdfaid:part>{part}</pdfaid:part><pdfaid:conformance>{conformance}'
            '</pdfaid:conformance></rdf:Description></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>').encode())
        xmp.update({NameObject("/Type"): NameObject("/Metadata"),
                    NameObject("/Subtype"): NameObject("/XML")})
        writer.root_object[NameObject("/Metadata")] = writer._add_object(xmp)
    if password:
        writer.encrypt(user_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_page_tree(kids: int) -> bytes:
    """A valid PDF whose page list names one page `kids` times: slow to count, by design."""
    objects = [b"<</Type/Catalog/Pages 2 0 R>>",
               b"<</Type/Pages/Kids[" + b"3 0 R " * kids + b"]/Count %d>>" % kids,
               b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1,
                                                                             xref)
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
