"""Metrics benchmark: what counting costs a handler and an RPC, and what a scrape costs.

Times, in this process, a handler run and an RPC wrapped as Lodge wraps them
(`kernel.platform.metrics.handling`, `serving_rpc`) against the bare call, and then one
scrape of a service's metrics port, served by `kernel.platform.metrics.serve` with as many
series as a busy service has (every event type, outcome and RPC method seen). Prints
microseconds per call and milliseconds per scrape.

    python bench/metrics.py --calls 200000 --scrapes 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402

from kernel.contracts.exceptions import LodgeError  # noqa: E402
from kernel.platform import metrics  # noqa: E402
from tests.support.system import free_port  # noqa: E402

TOKEN = "bench-metrics-token"


def per_call(function, calls: int) -> float:
    """Microseconds per call, the best of three runs."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def handler() -> None:
    pass


def counted_handler() -> None:
    with metrics.handling("bench", "deposit_submitted"):
        handler()


def counted_rpc() -> None:
    with metrics.serving_rpc("bench", "get_deposit", LodgeError):
        handler()


def fill(services: int = 5, events: int = 12, methods: int = 30) -> int:
    """The series a busy Lodge has: every event handled every way, every method called."""
    for s in range(services):
        service = f"service{s}"
        metrics.prepare_service(service)
        for e in range(events):
            event = f"event_{e}"
            for outcome in metrics.EVENT_OUTCOMES:
                metrics.EVENTS_HANDLED.labels(service, event, outcome).inc()
            metrics.EVENT_HANDLER_SECONDS.labels(service, event).observe(0.01)
            metrics.EVENT_RETRIES.labels(service, event).inc()
        for m in range(methods):
            metrics.RPC_SECONDS.labels(service, f"method_{m}").observe(0.01)
            for outcome in metrics.RPC_OUTCOMES:
                metrics.RPC_CALLS.labels(service, f"method_{m}", outcome).inc()
        metrics.OUTBOX_BACKLOG.labels(service).set(0)
    return len(metrics.exposition().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()

    bare = per_call(handler, args.calls)
    counted = per_call(counted_handler, args.calls)
    rpc = per_call(counted_rpc, args.calls)
    print(f"handler run: bare {bare:.2f} µs, counted and timed {counted:.2f} µs")
    print(f"  counting adds {counted - bare:.2f} µs a run")
    print(f"RPC: counted and timed {rpc:.2f} µs, adds {rpc - bare:.2f} µs a call")

    lines = fill()
    bind = f"127.0.0.1:{free_port()}"
    server = metrics.serve(bind, TOKEN)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    times = []
    try:
        for _ in range(args.scrapes):
            started = time.perf_counter()
            response = session.get(f"http://{bind}/metrics", timeout=10)
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    finally:
        server.shutdown()
        server.server_close()
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"scrape of {lines} lines ({len(response.content)} bytes): "
        f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms"
    )


if __name__ == "__main__":
    main()
