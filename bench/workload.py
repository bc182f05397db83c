"""What the benchmarks share: what they deposit, the Lodge they measure it on, what they read
back from the broker afterwards, and how they sum up timings."""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Iterator
from datetime import datetime

from tests.support.cluster import RabbitNode
from tests.support.system import LodgeSystem


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile, `p` in percent."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def copy_in_chunks(
    connection, table: str, columns: tuple[str, ...], count: int, chunk: int, rows
) -> None:
    """COPY `count` rows into `table`, `chunk` at a time, committing and showing progress as
    it goes; `rows(first, last)` gives rows first..last-1 as tab-separated text."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for first in range(0, count, chunk):
            done = min(first + chunk, count)
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", rows(first, done))
            connection.commit()
            print(
                f"\r  seeded {done:,}/{count:,} {table} ({time.perf_counter() - started:.0f} s)",
                end="",
                flush=True,
            )


def stop_and_report(system: LodgeSystem) -> None:
    """Stop a bench's Lodge, saying where its log was kept and what outlived it."""
    system.stop()
    if system.artifact_path:
        print(f"log kept at {system.artifact_path}")
    if system.leftovers:
        print(f"processes that outlived `lodge run`: {system.leftovers}")


def add_lodge_arguments(parser: argparse.ArgumentParser, label: str) -> None:
    """`--label` and `--own-broker`, which `bench_lodge` reads."""
    parser.add_argument("--label", default=label, help="names the run's vhost and databases")
    parser.add_argument(
        "--own-broker",
        action="store_true",
        help="run on a RabbitMQ node of its own, not the machine's (when that one is busy)",
    )


@contextlib.contextmanager
def bench_lodge(args: argparse.Namespace) -> Iterator[LodgeSystem]:
    """A Lodge on PostgreSQL named by `--label`, on the machine's broker or one of its own."""
    with (
        RabbitNode() if args.own_broker else contextlib.nullcontext() as broker,
        LodgeSystem("postgresql", label=args.label, start_timeout=240, cluster=broker) as system,
    ):
        yield system


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
    """Dead letters by service, parked or waiting, where there are any."""
    return {service: count for service, count in system.dead_letters().items() if count}
