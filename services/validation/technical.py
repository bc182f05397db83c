"""Hostile files are read in capped child processes: technical metadata for inventory (PDF
through pypdf, audio and video through mutagen, images through Pillow) and the inflation of
archives and compressed files (archives.py).

None of it runs in the service. A reader process (`python -m services.validation.technical`)
imports the readers once and, for each file, forks a child that caps its own memory and CPU
time and reads; the reader kills a child that outlives the wall-time limit. Whatever goes
wrong there (an exception, a hang, a crash) comes back as a plain {"error"}, never a crash. A
fork of the warm reader costs a few milliseconds, where starting Python and importing pypdf
for each file cost ~250 ms of CPU.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from kernel.policy.text import user_pattern
from services.validation import archives

MAX_BYTES = 512 * 1024**2
WALL_SECONDS = 30
CPU_SECONDS = 20
MEMORY_BYTES = 1024**3
READERS_PER_PROCESS = 2  # files read at once by one validation process, per pool


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
    with tempfile.NamedTemporaryFile(prefix="lodge-technical-") as copy:
        sent = 0
        for chunk in chunks:
            copy.write(chunk[: MAX_BYTES - sent])
            sent += len(chunk)
            if sent >= MAX_BYTES:
                break
        copy.flush()
        answer = _readers.ask({"kind": kind, "path": copy.name})
    if "result" not in answer:
        raise Unreadable(answer.get("error") or "the reader stopped")
    return answer["result"]


def inspect_archive(path: str, limits: dict, expand: bool, seconds: float) -> dict:
    """archives.report() on the file at `path`, in a capped child given `seconds` of wall
    and CPU time: {"listing"} or {"problem"}, or {"error"} if the child did not finish. The
    full check and the pre-check use separate readers, so a long full check never holds up
    an upload's pre-check."""
    readers = _readers if expand else _quick_readers
    answer = readers.ask(
        {
            "kind": "archive",
            "path": path,
            "seconds": seconds,
            "cpu_seconds": seconds,
            "options": {"limits": limits, "expand": expand},
        }
    )
    return (
        answer["result"]
        if "result" in answer
        else {"error": answer.get("error") or "the reader stopped"}
    )


class ReaderPool:
    """This process's warm reader processes, started when first needed; one file each at a
    time. A reader that stops answering is replaced."""

    def __init__(self, size: int):
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def ask(self, request: dict) -> dict:
        with self._slots:
            try:
                reader = self._idle.get_nowait()
            except queue.Empty:
                reader = None
            if reader is None or reader.poll() is not None:
                reader = subprocess.Popen(
                    [sys.executable, "-m", "services.validation.technical"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            try:
                reader.stdin.write(json.dumps(request).encode() + b"\n")
                reader.stdin.flush()
                line = reader.stdout.readline()
                answer = json.loads(line)
            except (OSError, ValueError):
                reader.kill()
                reader.wait()
                return {"error": "the reader stopped"}
            self._idle.put(reader)
            return answer


_readers = ReaderPool(READERS_PER_PROCESS)
_quick_readers = ReaderPool(READERS_PER_PROCESS)


# --- the reader side ------------------------------------------------------------------------


def serve() -> None:
    """One request a line on stdin ({"kind", "path"}, optional "seconds", "cpu_seconds" and
    the reader's "options"), one answer a line on stdout."""
    import mutagen  # noqa: F401 - imported once here, inherited by every fork
    import pypdf  # noqa: F401
    from PIL import Image  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        answer = parse_in_child(
            request["kind"],
            request["path"],
            request.get("seconds", WALL_SECONDS),
            request.get("cpu_seconds", CPU_SECONDS),
            request.get("options", {}),
        )
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def parse_in_child(
    kind: str,
    path: str,
    seconds: float,
    cpu_seconds: float = CPU_SECONDS,
    options: dict | None = None,
) -> dict:
    """Fork, read `path` in the capped child, and wait at most `seconds` for it."""
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(readable)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # stdout is the protocol
        try:
            _limit_myself(cpu_seconds)
            with open(path, "rb") as handle:
                answer: dict[str, Any] = {"result": READERS[kind](handle, **(options or {}))}
        except BaseException as err:  # noqa: BLE001 - any parser failure is a plain note
            answer = {"error": f"{type(err).__name__}: {str(err)[:150]}"}
        with os.fdopen(writable, "w") as out:
            out.write(json.dumps(answer, default=str))
        os._exit(0)
    os.close(writable)
    deadline, received = time.monotonic() + seconds, []
    with os.fdopen(readable, "rb", buffering=0) as answers:
        while (left := deadline - time.monotonic()) > 0:
            if select.select([answers], [], [], left)[0]:
                data = answers.read(65536)
                if not data:
                    break
                received.append(data)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"error": "it took too long"}
    os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(received) or b"{}")
    except ValueError:
        return {}


def _limit_myself(cpu_seconds: float) -> None:
    """The forked child caps itself before it reads a byte of the file."""
    cpu = max(1, int(cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


# --- the parsers, run in the forked child -----------------------------------------------------

# bounded runs: an XMP packet is the uploader's, and unbounded ones rescan it at every match
_PDFA = user_pattern(
    rb"pdfaid:(part|conformance)\s{0,64}"
    rb"(?:=\s{0,64}[\"']([^\"']{0,64})[\"']|>\s{0,64}([^<]{0,64})<)"
)


def pdf(handle) -> dict:
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject

    reader = PdfReader(handle)
    facts: dict = {
        "pdf_version": reader.pdf_header.lstrip("%PDF-"),
        "encrypted": bool(reader.is_encrypted),
        "pdfa": None,
    }
    if reader.is_encrypted and not reader.decrypt(""):
        return facts  # pages and XMP are locked behind a password
    facts["pages"] = len(reader.pages)
    root = cast(DictionaryObject, reader.trailer["/Root"])
    metadata = root.get("/Metadata")
    if metadata is not None:
        xmp = metadata.get_object().get_data()
        found: dict[str, str] = {}
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
    facts = {
        "duration_seconds": round(float(getattr(info, "length", 0) or 0), 3),
        "codec": codec,
        "bitrate": getattr(info, "bitrate", None),
        "sample_rate": getattr(info, "sample_rate", None),
        "channels": getattr(info, "channels", None),
    }
    return {key: value for key, value in facts.items() if value is not None}


def image(handle) -> dict:
    from PIL import Image

    with Image.open(handle) as picture:  # reads the header only; pixels are never decoded
        return {
            "width": picture.width,
            "height": picture.height,
            "format": picture.format,
            "mode": picture.mode,
        }


READERS: dict[str, Callable[..., dict[str, Any]]] = {
    "pdf": pdf,
    "audio": media,
    "video": media,
    "image": image,
    "archive": archives.report,
}


if __name__ == "__main__":
    serve()
