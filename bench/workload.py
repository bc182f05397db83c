"""What the benchmarks deposit, and what they read back from the broker afterwards."""

from __future__ import annotations

from datetime import datetime

from tests.support.system import LodgeSystem


def pdf_bytes(number: int, padding: int = 0) -> bytes:
    """A small PDF, different for every number; `padding` bytes of comment make it larger."""
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n% bench deposit "
        + str(number).encode()
        + (b"\n" + b"%" * padding if padding else b"")
        + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def metadata(number: int, title: str = "Bench deposit", **extra) -> dict:
    return {
        "title": f"{title} {number}",
        "creators": [{"name": "Bench Runner"}],
        "abstract": "A small deposit made by a benchmark under bench/.",
        "date": "2024",
        **extra,
    }


def server_time(value: str) -> float:
    """A timestamp from the API (ISO 8601, maybe with Z) as seconds since the epoch."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def event_backlog(system: LodgeSystem) -> dict[str, int]:
    """Messages still waiting in the event queues, by queue."""
    return {
        name: q.get("messages") or 0
        for name, q in system.queues().items()
        if name.startswith("evt-") and (q.get("messages") or 0)
    }


def dead_lettered(system: LodgeSystem) -> dict[str, int]:
    """Messages in the lodge.dead-letter.* queues of the system's vhost, by queue."""
    return {
        name: q.get("messages") or 0
        for name, q in system.queues().items()
        if name.startswith("lodge.dead-letter.") and (q.get("messages") or 0)
    }
