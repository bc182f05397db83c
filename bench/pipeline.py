"""Pipeline benchmark: how fast small auto-approved deposits go from submit to `archived`.

Starts a complete Lodge of its own (tests/support/system.py: fresh vhost, databases,
data folder and port), prepares N open-works drafts with a small PDF each (terms
accepted), then submits them from a thread pool, paced at an offered rate or as fast as
the threads go, and notes when each one is archived from the CloudEvents Lodge publishes
(a queue of the bench's own bound to `lodge.events`, `intake.deposit_status_changed`: it
costs Lodge nothing but the broker's routing of one more copy). Prints the archived
throughput, submit→archived latency percentiles, how many deposits were lost (not archived
before the deadline) or dead-lettered, and the CPU each Lodge process (and the PostgreSQL
backends serving it) spent per deposit, each beside its target. Always stops the Lodge it
started.

    python bench/pipeline.py --duration 300 --rate 20      # p95 at the offered 20/s
    python bench/pipeline.py --duration 300 --concurrency 16  # unpaced: the sustained rate

With `--duration D`, N is D × the rate (unpaced: D × the 40/s target), so a run that meets
its target lasts about D seconds. Latency is given two ways: as the client sees it (submit
response received → the `archived` CloudEvent received) and by the server's own timestamps
(the deposit's `updated_at` at submit → the event's `time`).

Other benches use the pieces: `run_deposits(system, n, rate=..., concurrency=...)` runs N
deposits against a running `LodgeSystem` and returns a `PipelineFigures`; `print_figures`
prints one next to the targets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg2
import requests
from kombu import Connection, Exchange, Queue

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.resources import Sampler, usage  # noqa: E402
from bench.workload import (  # noqa: E402
    dead_lettered,
    event_backlog,
    metadata,
    pdf_bytes,
    percentile,
    server_time,
    stop_and_report,
)
from tests.support.system import (  # noqa: E402
    PG_ADMIN_DSN,
    RABBIT_API,
    RABBIT_AUTH,
    LodgeClient,
    LodgeSystem,
    delete_vhost,
)

TARGET_RATE = 40.0  # deposits/s archived, sustained, unpaced
TARGET_P95_MS = 1000.0  # submit → archived, at the offered rate below
TARGET_P95_AT = 20.0


class ArchivedWatcher(threading.Thread):
    """Notes when each deposit's `archived` status change is published on lodge.events:
    id → (client time received, the event's time)."""

    def __init__(self, amqp_uri: str):
        super().__init__(daemon=True)
        self.amqp_uri = amqp_uri
        self.seen: dict[str, tuple[float, float]] = {}
        self.ready = threading.Event()
        self._halt = threading.Event()
        self.failure: BaseException | None = None

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        exchange = Exchange("lodge.events", type="topic", durable=True, no_declare=True)
        watch = Queue(
            f"bench-pipeline-{uuid.uuid4().hex}",
            exchange=exchange,
            routing_key="intake.deposit_status_changed",
            exclusive=True,
            auto_delete=True,
        )
        try:
            with (
                Connection(self.amqp_uri) as connection,
                connection.Consumer(watch, callbacks=[self.on_message], accept=None),
            ):
                self.ready.set()
                while not self._halt.is_set():
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=0.2)
        except BaseException as err:  # noqa: BLE001 - reported by the bench, not lost
            self.failure = err
            self.ready.set()

    def on_message(self, body, message) -> None:
        received = time.time()
        try:
            event = json.loads(body) if isinstance(body, (bytes, str)) else body
            data = event.get("data") or {}
            if data.get("to_status") == "archived":
                self.seen.setdefault(data["deposit_id"], (received, server_time(event["time"])))
        except (ValueError, KeyError, AttributeError):  # not Lodge's event: not ours to count
            pass
        finally:
            message.ack()


def database_backends(system: LodgeSystem) -> list[int]:
    """The PostgreSQL server processes connected to this Lodge's databases now."""
    names = [url.rsplit("/", 1)[1] for url in system.database_urls.values()]
    if not names:
        return []
    connection = psycopg2.connect(PG_ADMIN_DSN)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)", (names,))
            return [pid for (pid,) in cursor.fetchall()]
    finally:
        connection.close()


class CpuMeter:
    """CPU seconds per process name, between `start` and `stop`: Lodge's processes (from
    bench/resources.py's sampler, which keeps what an ended process used) and the
    PostgreSQL backends of its databases (those connected at the start or the end)."""

    def __init__(self, system: LodgeSystem):
        assert system.process is not None
        self.system = system
        self.sampler = Sampler(system.process.pid)
        self.before: dict[str, float] = {}
        self.backends: dict[int, float] = {}
        self.broker_before: float | None = None
        self.broker_seconds: float | None = None  # the whole node's, shared with the machine

    def start(self) -> None:
        self.broker_before = broker_cpu(self.system.rabbit_api)
        self.sampler.sample()
        self.before = self.sampler.cpu()
        self.backends = {pid: used[1] for pid in self._backends() if (used := usage(pid))}
        self.sampler.start()

    def stop(self) -> dict[str, float]:
        self.sampler.stop()
        self.sampler.sample()
        spent = {
            name: seconds - self.before.get(name, 0.0)
            for name, seconds in self.sampler.cpu().items()
        }
        database = 0.0
        for pid in set(self.backends) | set(self._backends()):
            used = usage(pid)
            if used is not None:
                database += used[1] - self.backends.get(pid, 0.0)
        spent["postgresql (its backends)"] = database
        broker_after = broker_cpu(self.system.rabbit_api)
        if self.broker_before is not None and broker_after is not None:
            self.broker_seconds = broker_after - self.broker_before
        return spent

    def _backends(self) -> list[int]:
        try:
            return database_backends(self.system)
        except psycopg2.Error:  # SQLite, or no admin access: no database figure
            return []


@dataclass
class PipelineFigures:
    deposits: int
    rate: float  # offered per second; 0: unpaced
    concurrency: int
    submitted: int = 0
    submit_window: float = 0.0  # first submit sent → last answered, seconds
    archived: int = 0
    lost: int = 0
    lost_by_status: dict[str, int] = field(default_factory=dict)
    span: float = 0.0  # first submit sent → last archived seen (client), seconds
    throughput: float = 0.0  # archived per second over the span
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    backlog: dict[str, int] = field(default_factory=dict)
    dead_lettered: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process name
    broker_cpu: float | None = None  # the RabbitMQ node's CPU seconds (shared)
    failed_submits: int = 0

    def latency(self, p: float, server: bool = True) -> float:
        values = self.server_ms if server else self.client_ms
        return percentile(values, p) if values else math.nan

    def cpu_ms_per_deposit(self) -> dict[str, float]:
        return {name: seconds * 1000 / max(self.archived, 1) for name, seconds in self.cpu.items()}


def prepare_drafts(system: LodgeSystem, n: int, concurrency: int) -> tuple[str, list[str]]:
    """N open-works drafts of the demo student with one small PDF each, terms accepted:
    the student's token and the drafts' ids."""
    token = system.token("student")
    local = threading.local()

    def prepare(number: int) -> str:
        if not hasattr(local, "client"):
            local.client = LodgeClient(system.base_url, token, "student")
        deposit = local.client.create_deposit("open-works", metadata(number))
        local.client.upload(deposit["id"], "paper.pdf", pdf_bytes(number))
        local.client.accept_terms(deposit["id"])
        return deposit["id"]

    with ThreadPoolExecutor(concurrency) as pool:
        return token, list(pool.map(prepare, range(n)))


def run_deposits(
    system: LodgeSystem,
    n: int,
    rate: float = 0.0,
    concurrency: int = 8,
    deadline: float = 60.0,
    log=print,
) -> PipelineFigures:
    """Prepare N drafts, then submit them (paced at `rate` per second in all, or as fast as
    `concurrency` threads go when 0) and wait up to `deadline` seconds after the last submit
    for each to be archived. CPU is counted from the first submit to the last archived."""
    figures = PipelineFigures(deposits=n, rate=rate, concurrency=concurrency)
    t0 = time.monotonic()
    token, ids = prepare_drafts(system, n, concurrency)
    log(f"prepared {len(ids)} drafts in {time.monotonic() - t0:.1f} s")

    watcher = ArchivedWatcher(system.amqp_uri)
    watcher.start()
    watcher.ready.wait(30)
    if watcher.failure is not None:
        raise RuntimeError(f"cannot watch lodge.events: {watcher.failure!r}")
    wanted = set(ids)
    submitted: dict[str, tuple[float, float, float]] = {}  # id → (sent, answered, server at)
    local = threading.local()
    order = {deposit_id: index for index, deposit_id in enumerate(ids)}
    meter = CpuMeter(system)
    meter.start()
    schedule_start = time.monotonic() + 0.1

    def submit(deposit_id: str) -> None:
        if not hasattr(local, "client"):
            local.client = LodgeClient(system.base_url, token, "student")
        if rate > 0:  # pacing only: deposit i goes out at i / rate seconds
            delay = schedule_start + order[deposit_id] / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sent = time.time()
        response = local.client.post(f"/api/v1/deposits/{deposit_id}/actions/submit")
        answered = time.time()
        if response.status_code != 200:
            figures.failed_submits += 1
            return
        submitted[deposit_id] = (sent, answered, server_time(response.json()["updated_at"]))

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(submit, ids))
    figures.submitted = len(submitted)
    if not submitted:
        watcher.stop()
        meter.stop()
        return figures
    first_sent = min(sent for sent, _, _ in submitted.values())
    figures.submit_window = max(answered for _, answered, _ in submitted.values()) - first_sent
    log(
        f"submitted {len(submitted)} in {figures.submit_window:.2f} s "
        f"({len(submitted) / figures.submit_window:.1f} submits/s; "
        f"{figures.failed_submits} refused)"
    )

    until = time.monotonic() + deadline
    while len(wanted & watcher.seen.keys()) < len(submitted) and time.monotonic() < until:
        time.sleep(0.05)
    figures.cpu = meter.stop()
    figures.broker_cpu = meter.broker_seconds
    watcher.stop()
    watcher.join(timeout=10)

    seen = {i: watcher.seen[i] for i in submitted if i in watcher.seen}
    figures.archived = len(seen)
    lost = [deposit_id for deposit_id in ids if deposit_id not in seen]
    figures.lost = len(lost)
    figures.client_ms = [(seen[i][0] - submitted[i][1]) * 1000 for i in seen]
    figures.server_ms = [(seen[i][1] - submitted[i][2]) * 1000 for i in seen]
    if seen:
        figures.span = max(t for t, _ in seen.values()) - first_sent
        figures.throughput = len(seen) / figures.span
    client = LodgeClient(system.base_url, token, "student")
    for deposit_id in lost:
        response = client.get(f"/api/v1/deposits/{deposit_id}")
        status = (
            response.json().get("status")
            if response.status_code == 200
            else f"HTTP {response.status_code}"
        )
        figures.lost_by_status[status] = figures.lost_by_status.get(status, 0) + 1
    figures.backlog, figures.dead_lettered = settled_queues(system)
    return figures


def settled_queues(system: LodgeSystem, timeout: float = 20.0):
    """What is still in the event queues, and what was dead-lettered. The management API's
    message counts lag by a few seconds, so this polls until they read zero."""
    until = time.monotonic() + timeout
    while (backlog := event_backlog(system)) and time.monotonic() < until:
        time.sleep(0.5)
    return backlog, dead_lettered(system)


def broker_cpu(api: str = RABBIT_API) -> float | None:
    """CPU seconds of the RabbitMQ node (shared by everything on the machine), by the
    process id its management API gives; None if it cannot be read."""
    try:
        nodes = requests.get(f"{api}/nodes", auth=RABBIT_AUTH, timeout=30).json()
        used = [usage(int(node["os_pid"])) for node in nodes]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
    return sum(u[1] for u in used if u) if used and all(used) else None


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_figures(figures: PipelineFigures) -> None:
    pace = f"offered {figures.rate:g}/s" if figures.rate > 0 else "unpaced"
    print(
        f"\n{figures.deposits} deposits, {pace}, concurrency {figures.concurrency}, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"archived:   {figures.archived}/{figures.deposits}; lost {figures.lost} "
        f"{figures.lost_by_status or ''} [target 0: {verdict(figures.lost == 0)}]"
    )
    if figures.archived:
        target = (
            f" [target ≥ {TARGET_RATE:g}/s sustained: {verdict(figures.throughput >= TARGET_RATE)}]"
            if figures.rate <= 0
            else ""
        )
        print(
            f"throughput: {figures.throughput:.1f} deposits/s archived over {figures.span:.1f} s "
            f"(first submit → last archived){target}"
        )
        p95 = figures.latency(95)
        target = (
            f" [target ≤ {TARGET_P95_MS:.0f} ms at {TARGET_P95_AT:g}/s: "
            f"{verdict(p95 <= TARGET_P95_MS)}]"
            if figures.rate >= TARGET_P95_AT
            else ""
        )
        print(
            f"submit→archived, server timestamps: p50 {figures.latency(50):.0f} ms, "
            f"p95 {p95:.0f} ms, max {max(figures.server_ms):.0f} ms{target}"
        )
        print(
            f"submit→archived, client-observed:   p50 {figures.latency(50, False):.0f} ms, "
            f"p95 {figures.latency(95, False):.0f} ms, max {max(figures.client_ms):.0f} ms"
        )
    print(
        f"queues:     {'drained' if not figures.backlog else f'still holding {figures.backlog}'}; "
        f"dead-lettered: {figures.dead_lettered or 'none'} [target none: "
        f"{verdict(not figures.dead_lettered)}]"
    )
    per_deposit = figures.cpu_ms_per_deposit()
    print("CPU per archived deposit (ms), from the first submit to the last archived:")
    for name in sorted(per_deposit, key=per_deposit.get, reverse=True):  # type: ignore[arg-type]
        print(f"  {name:<28} {per_deposit[name]:7.1f}")
    lodge_total = sum(per_deposit.values())
    print(f"  {'total (Lodge and its database)':<28} {lodge_total:7.1f}")
    if figures.broker_cpu is not None and figures.archived:
        print(
            f"  {'rabbitmq (whole node, shared)':<28} "
            f"{figures.broker_cpu * 1000 / figures.archived:7.1f}"
        )
    if lodge_total:
        print(
            f"  so two cores carry at most {2000 / lodge_total:.0f} deposits/s before the broker "
            f"and the client are counted"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=0, help="deposits (default 200, or by --duration)")
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="seconds of submitting: N = this × the rate (unpaced: × the 40/s target)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pace submits at this many per second in all (default 0: as fast as the threads go)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="submitting threads (default 8)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--deadline",
        type=float,
        default=60.0,
        help="seconds after the last submit before a deposit counts as lost",
    )
    parser.add_argument("--keep", action="store_true", help="keep the Lodge log in test-artifacts/")
    args = parser.parse_args()
    n = args.n or (math.ceil(args.duration * (args.rate or TARGET_RATE)) if args.duration else 200)

    print(
        f"Lodge pipeline bench: {n} open-works deposits, concurrency {args.concurrency}, "
        f"{f'paced at {args.rate:g}/s' if args.rate > 0 else 'unpaced'}, "
        f"database {args.database}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    system = LodgeSystem(args.database, label="bench", keep_artifacts=args.keep or None)
    started = time.monotonic()
    try:
        start_patiently(system)
        print(f"started Lodge at {system.base_url} in {time.monotonic() - started:.1f} s")
        figures = run_deposits(
            system, n, args.rate, args.concurrency, args.deadline, log=log_flushed
        )
        print_figures(figures)
        return 1 if figures.lost or figures.dead_lettered else 0
    finally:
        stop_and_report(system)


def start_patiently(system: LodgeSystem) -> None:
    """Start the Lodge, its vhost made first with time to spare: a broker busy with other
    runs can take minutes to start one, longer than the test support waits."""
    vhost = f"{system.rabbit_api}/vhosts/{quote(system.vhost, safe='')}"
    until = time.monotonic() + 600
    while True:
        try:  # the management API gives up on a slow request while the broker goes on
            if requests.put(vhost, auth=RABBIT_AUTH, timeout=120).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > until:
            raise RuntimeError(f"the broker did not make the vhost {system.vhost}")
        time.sleep(5)
    try:
        system.start()
    finally:
        if not system._vhost_created:  # stop() deletes only the vhost that start() made
            delete_vhost(system.vhost, system.rabbit_api)


def log_flushed(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
