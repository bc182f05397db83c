"""Pipeline benchmark: how fast small auto-approved deposits go from submit to `archived`.

Starts a complete Lodge of its own (tests/support/system.py: fresh vhost, databases,
data folder and port), creates N open-works deposits with a small PDF each, submits them
from a thread pool, and watches the archived list (GET /api/v1/deposits?status=archived,
100 a page, every ~20 ms) to see when each one arrives. Prints the archived throughput,
submit→archived latency percentiles and how many deposits were lost (not archived before
the deadline). Always stops the Lodge it started.

    python bench/pipeline.py -n 200 --concurrency 8 --database postgresql

Latency is given two ways: as the client sees it (submit response received → first poll
that shows it archived; includes up to one poll interval) and from the server's own
timestamps (the `submitted` history row → the `archived` row's updated_at).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.workload import (  # noqa: E402
    dead_lettered,
    event_backlog,
    metadata,
    pdf_bytes,
    server_time,
)
from tests.support.system import LodgeClient, LodgeSystem, expect  # noqa: E402

POLL_INTERVAL = 0.02
PER_PAGE = 100  # the API's maximum
FULL_SWEEP_EVERY = 1.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class ArchivedWatcher(threading.Thread):
    """Polls the archived list and notes when each wanted deposit first shows up.

    The list is newest first, so a sweep reads pages only while they hold unseen
    deposits; a full sweep runs every second in case an update landed out of order."""

    def __init__(self, client: LodgeClient, wanted: set[str]):
        super().__init__(daemon=True)
        self.client = client
        self.wanted = set(wanted)
        self.seen: dict[str, tuple[float, float]] = {}  # id → (client time, server updated_at)
        self.polls = 0
        self.errors = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def sweep(self, full: bool) -> None:
        page = 1
        while True:
            response = self.client.get(
                "/api/v1/deposits",
                params={"status": "archived", "page": page, "per_page": PER_PAGE},
            )
            self.polls += 1
            if response.status_code != 200:
                self.errors += 1
                return
            now = time.time()
            result = response.json()
            fresh = 0
            for summary in result["items"]:
                if summary["id"] in self.wanted and summary["id"] not in self.seen:
                    self.seen[summary["id"]] = (now, server_time(summary["updated_at"]))
                    fresh += 1
            if page * PER_PAGE >= result["total"] or not result["items"]:
                return
            if not full and fresh == 0:
                return
            page += 1

    def run(self) -> None:
        last_full = 0.0
        while not self._halt.is_set() and len(self.seen) < len(self.wanted):
            full = time.monotonic() - last_full > FULL_SWEEP_EVERY
            if full:
                last_full = time.monotonic()
            try:
                self.sweep(full)
            except Exception:  # noqa: BLE001 - keep watching; a failed poll is counted, not fatal
                self.errors += 1
            self._halt.wait(POLL_INTERVAL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="deposits (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="submitting threads (default 8)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--deadline",
        type=float,
        default=60.0,
        help="seconds after the last submit before a deposit counts as lost",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pace submits at this many per second in all (default 0: as fast as the threads go)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the Lodge log in test-artifacts/")
    args = parser.parse_args()

    pace = f"paced at {args.rate:g}/s" if args.rate > 0 else "unpaced"
    print(
        f"Lodge pipeline bench: {args.n} open-works deposits, concurrency {args.concurrency}, "
        f"submits {pace}, database {args.database}",
        flush=True,
    )
    system = LodgeSystem(args.database, label="bench", keep_artifacts=args.keep or None)
    started = time.monotonic()
    try:
        system.start()
        print(
            f"started Lodge at {system.base_url} in {time.monotonic() - started:.1f} s", flush=True
        )
        return run_bench(system, args)
    finally:
        system.stop()
        if system.artifact_path:
            print(f"log kept at {system.artifact_path}")
        if system.leftovers:
            print(f"processes that outlived `lodge run`: {system.leftovers}")


def run_bench(system: LodgeSystem, args) -> int:
    token_client = system.client("student")  # makes the token once
    token = token_client.headers["Authorization"].removeprefix("Bearer ")
    local = threading.local()

    def client() -> LodgeClient:
        if not hasattr(local, "client"):
            local.client = LodgeClient(system.base_url, token, "student")
        return local.client

    # --- prepare: drafts with one small PDF each, terms accepted --------------------------------
    def prepare(number: int) -> str:
        deposit = client().create_deposit("open-works", metadata(number))
        client().upload(deposit["id"], "paper.pdf", pdf_bytes(number))
        client().accept_terms(deposit["id"])
        return deposit["id"]

    t0 = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        ids = list(pool.map(prepare, range(args.n)))
    print(f"prepared {len(ids)} drafts in {time.monotonic() - t0:.1f} s", flush=True)

    # --- submit them all, watching the archived list -------------------------------------------
    watcher = ArchivedWatcher(LodgeClient(system.base_url, token, "student"), set(ids))
    watcher.start()
    submitted: dict[str, tuple[float, float, float]] = {}  # id → (sent, answered, server at)

    schedule_start = time.monotonic() + 0.1
    order = {deposit_id: index for index, deposit_id in enumerate(ids)}

    def submit(deposit_id: str) -> None:
        if args.rate > 0:  # pacing only: deposit i goes out at i / rate seconds
            delay = schedule_start + order[deposit_id] / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sent = time.time()
        deposit = expect(client().post(f"/api/v1/deposits/{deposit_id}/actions/submit"), 200)
        answered = time.time()
        at = next(
            row["at"] for row in reversed(deposit["history"]) if row["to_status"] == "submitted"
        )
        submitted[deposit_id] = (sent, answered, server_time(at))

    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(submit, ids))
    first_sent = min(sent for sent, _, _ in submitted.values())
    last_answered = max(answered for _, answered, _ in submitted.values())
    window = last_answered - first_sent
    print(
        f"submitted {len(submitted)} in {window:.2f} s ({len(submitted) / window:.1f} submits/s)",
        flush=True,
    )

    deadline = time.monotonic() + args.deadline
    while watcher.is_alive() and time.monotonic() < deadline:
        watcher.join(timeout=0.2)
    watcher.stop()
    watcher.join(timeout=10)
    watcher.sweep(full=True)  # a last look, so a deposit is lost only if it truly is

    # --- figures --------------------------------------------------------------------------------
    seen = dict(watcher.seen)
    lost = [deposit_id for deposit_id in ids if deposit_id not in seen]
    client_latency = [(seen[i][0] - submitted[i][1]) * 1000 for i in seen]
    server_latency = [(seen[i][1] - submitted[i][2]) * 1000 for i in seen]
    print()
    if seen:
        last_archived_client = max(t for t, _ in seen.values())
        last_archived_server = max(t for _, t in seen.values())
        first_submit_server = min(at for _, _, at in submitted.values())
        span_client = last_archived_client - first_sent
        span_server = last_archived_server - first_submit_server
        print(
            f"archived:   {len(seen)}/{len(ids)} ({len(lost)} lost: not archived within "
            f"{args.deadline:.0f} s of the last submit)"
        )
        print(
            f"throughput: {len(seen) / span_client:.1f} deposits/s archived "
            f"(first submit → last archived seen, {span_client:.2f} s); "
            f"{len(seen) / span_server:.1f}/s by server timestamps ({span_server:.2f} s)"
        )
        print(
            f"latency submit→archived, client-observed (poll {POLL_INTERVAL * 1000:.0f} ms): "
            f"p50 {percentile(client_latency, 50):.0f} ms, "
            f"p95 {percentile(client_latency, 95):.0f} ms, max {max(client_latency):.0f} ms"
        )
        print(
            f"latency submit→archived, server timestamps:             "
            f"p50 {percentile(server_latency, 50):.0f} ms, "
            f"p95 {percentile(server_latency, 95):.0f} ms, max {max(server_latency):.0f} ms"
        )
    else:
        print(f"archived:   0/{len(ids)} — every deposit lost")
    print(f"watcher:    {watcher.polls} list requests, {watcher.errors} failed")

    if lost:
        statuses: dict[str, int] = {}
        for deposit_id in lost:
            response = client().get(f"/api/v1/deposits/{deposit_id}")
            status = (
                response.json().get("status")
                if response.status_code == 200
                else f"HTTP {response.status_code}"
            )
            statuses[status] = statuses.get(status, 0) + 1
        print(f"lost deposits by status: {statuses}")

    report_queues(system)
    return 1 if lost else 0


def report_queues(system: LodgeSystem, timeout: float = 20.0) -> None:
    """Whether the event queues drained, and anything dead-lettered. The management API's
    message counts lag by a few seconds, so this polls until they read zero."""
    deadline = time.monotonic() + timeout
    while (backlog := event_backlog(system)) and time.monotonic() < deadline:
        time.sleep(0.5)
    dead = dead_lettered(system)
    print(
        f"queues:     {'drained' if not backlog else f'still holding {backlog}'}; "
        f"dead-lettered: {dead or 'none'}"
    )


if __name__ == "__main__":
    sys.exit(main())
