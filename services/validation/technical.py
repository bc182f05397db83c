"""Technical metadata for inventory: PDF (pypdf), audio and video (mutagen), images (Pillow).

Parsers meet hostile files, so they run in a child process with caps on memory, CPU time
and wall time, fed at most MAX_BYTES through stdin. Whatever goes wrong there (a parser
exception, a hang, a crash) comes back as a plain "could not read" note, never a crash.

Run as `python -m services.validation.technical KIND` (the child side).
"""
from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import tempfile
from typing import Iterable

MAX_BYTES = 512 * 1024 ** 2
WALL_SECONDS = 30
CPU_SECONDS = 20
MEMORY_BYTES = 1024 ** 3


def kind_of(media_type: str) -> str | None:
    if media_type == "application/pdf":
        return "pdf"
    major = media_type.split("/", 1)[0]
    return major if major in ("audio", "video", "image") else None


class Unreadable(Exception):
    pass


def measure(media_type: str, chunks: Iterable[bytes]) -> dict | None:
    """The file's technical metadata; None if there is nothing to measure for its kind.
    Raises Unreadable with a short reason when the file cannot be read."""
    kind = kind_of(media_type)
    if kind is None:
        return None
    child = subprocess.Popen(
        [sys.executable, "-m", "services.validation.technical", kind],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        sent = 0
        try:
            for chunk in chunks:
                chunk = chunk[:MAX_BYTES - sent]
                child.stdin.write(chunk)
                sent += len(chunk)
                if sent >= MAX_BYTES:
                    break
        except BrokenPipeError:
            pass  # the child gave up early; its answer says why
        try:
            out, _ = child.communicate(timeout=WALL_SECONDS)
        except subprocess.TimeoutExpired:
            raise Unreadable("it took too long") from None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        answer = json.loads(out or b"{}")
    except ValueError:
        answer = {}
    if "technical" not in answer:
        raise Unreadable(answer.get("error") or "the reader stopped")
    return answer["technical"]


def _limit_myself() -> None:
    """The child caps itself first thing (a preexec_fn would fork the eventlet parent)."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


# --- the child side -----------------------------------------------------------------------

_PDFA = re.compile(rb"pdfaid:(part|conformance)\s*(?:=\s*[\"']([^\"']*)[\"']|>\s*([^<]*)<)")


def pdf(handle) -> dict:
    from pypdf import PdfReader

    reader = PdfReader(handle)
    facts: dict = {"pdf_version": reader.pdf_header.lstrip("%PDF-"),
                   "encrypted": bool(reader.is_encrypted), "pdfa": None}
    if reader.is_encrypted and not reader.decrypt(""):
        return facts  # pages and XMP are locked behind a password
    facts["pages"] = len(reader.pages)
    metadata = reader.trailer["/Root"].get("/Metadata")
    if metadata is not None:
        xmp = metadata.get_object().get_data()
        found = {}
        for match in _PDFA.finditer(xmp):  # closing tags match too, with nothing in them
            value = (match.group(2) or match.group(3) or b"").decode(errors="replace").strip()
            if value:
                found.setdefault(match.group(1).decode(), value)
        if found.get("part"):
            facts["pdfa"] = f"PDF/A-{found['part']}{found.get('conformance', '').lower()}"
    return facts


def media(handle) -> dict:
    import mutagen

    parsed = mutagen.File(handle)
    if parsed is None or parsed.info is None:
        raise ValueError("not an audio or video format Lodge knows")
    info = parsed.info
    codec = getattr(info, "codec", None) or type(parsed).__name__.lower()
    facts = {"duration_seconds": round(float(getattr(info, "length", 0) or 0), 3),
             "codec": codec, "bitrate": getattr(info, "bitrate", None),
             "sample_rate": getattr(info, "sample_rate", None),
             "channels": getattr(info, "channels", None)}
    return {key: value for key, value in facts.items() if value is not None}


def image(handle) -> dict:
    from PIL import Image

    with Image.open(handle) as picture:  # reads the header only; pixels are never decoded
        return {"width": picture.width, "height": picture.height, "format": picture.format,
                "mode": picture.mode}


READERS = {"pdf": pdf, "audio": media, "video": media, "image": image}


def main(kind: str) -> None:
    _limit_myself()
    with tempfile.SpooledTemporaryFile(max_size=32 * 1024 ** 2) as handle:
        while chunk := sys.stdin.buffer.read(1024 * 1024):
            handle.write(chunk)
        handle.seek(0)
        try:
            answer = {"technical": READERS[kind](handle)}
        except Exception as err:  # any parser failure is a plain note
            answer = {"error": f"{type(err).__name__}: {str(err)[:150]}"}
    sys.stdout.write(json.dumps(answer, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
