"""Scaling out: the pipeline with one instance of every process, then with two.

Starts a complete Lodge of its own (tests/support/system.py, PostgreSQL) with the gateway's
port opened with SO_REUSEPORT, and runs N small open-works deposits through it unpaced
(every draft made first, then every submit as fast as the threads go, as
`bench/pipeline.py` does). Then it starts a second `lodge run` on the same vhost,
databases, data folder and port, which adds a second instance of every service, of the
inbox and of the gateway (the kernel spreads connections between the two gunicorn
masters), and runs N more. It prints for each run the deposits archived per second and
the ratio, and for every process and instance the CPU seconds it spent per deposit (from
/proc, over submit → queues drained), which must not rise with the second instance.

Hidden contention shows as more CPU per deposit in all, and is also looked for directly:
CloudEvents published on `lodge.events` per deposit (an outbox row relayed by both
instances would be published twice), letters written per deposit (a timer's work done
twice), and the database sessions waiting on a lock, sampled every 0.2 s (hot rows).
PostgreSQL's backends are measured at rest too, and each table's reads and writes per
deposit (pg_stat_user_tables) are compared between the runs, so where the database works
harder with two instances shows by table.

    python bench/scaleout.py -n 300 --concurrency 8

On two cores CPU is the limit, so the ratio is about 1: what the second instance must
show is that it does not cost more per deposit. The figures feed docs/capacity.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg2
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.pipeline import ArchivedWatcher  # noqa: E402
from bench.resources import processes_below, usage  # noqa: E402
from bench.workload import event_backlog, metadata, pdf_bytes, percentile  # noqa: E402
from tests.support.cluster import RabbitNode  # noqa: E402
from tests.support.system import (  # noqa: E402
    ARTIFACTS_DIR,
    INBOX_QUEUE,
    PG_ADMIN_DSN,
    RABBIT_AUTH,
    LodgeClient,
    LodgeSystem,
    expect,
    poll_until,
    rpc_service_names,
)

# the second instance's CPU per deposit may exceed the first's by this much before the
# bench calls it contention: runs on a shared two-core machine differ by about that
CPU_TOLERANCE = 1.15
STATS_LAG = 6.0  # seconds: RabbitMQ's management figures are up to 5 s old
COUNTING_QUEUE = "bench.scaleout.cloudevents"
GATEWAY_WORKERS = 2  # LODGE_GATEWAY_WORKERS's default, which the bench keeps


@dataclass
class Phase:
    """What one run of deposits gave."""

    label: str
    instances: int
    deposits: int
    archived: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    cpu: dict[tuple[str, int], float] = field(default_factory=dict)  # (process, instance) → s
    cloudevents: int = 0
    published: int = 0  # every message published in the vhost (RPC, events, replies)
    commits: int = 0  # transactions committed in this Lodge's databases
    letters: int = 0
    lock_samples: list[int] = field(default_factory=list)
    load: float = 0.0
    window: float = 0.0  # seconds the CPU was measured over
    idle: dict[tuple[str, int], float] = field(default_factory=dict)  # CPU s a second, at rest
    tables: dict[str, dict[str, int]] = field(default_factory=dict)  # database.table → counts

    @property
    def rate(self) -> float:
        return self.archived / self.seconds if self.seconds else 0.0


# --- the processes of each `lodge run`, and what they spent ---------------------------------


def instance_pids(roots: list[int]) -> dict[int, tuple[str, int]]:
    """Every process below each `lodge run` (instance 1, 2, ...): pid → (name, instance)."""
    found: dict[int, tuple[str, int]] = {}
    for number, root in enumerate(roots, start=1):
        for pid, name in processes_below(root).items():
            found[pid] = (name, number)
    return found


class CpuMeter:
    """CPU seconds by (process name, instance) between `start()` and `stop()`, counting
    processes that start or end in between (validation's readers) by sampling; `others`
    names more processes to count (this Lodge's PostgreSQL backends, as instance 0)."""

    def __init__(self, roots: list[int], others: Callable[[], dict[int, tuple[str, int]]]):
        self.roots = roots
        self.others = others
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[tuple[str, int], float]] = {}
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self, baseline: bool = False) -> None:
        for pid, key in (instance_pids(self.roots) | self.others()).items():
            if (used := usage(pid)) is not None:
                # a process that started after `start()` spent all it has in the window
                self.first.setdefault(pid, used[1] if baseline else 0.0)
                self.last[pid] = (key, used[1])

    def start(self) -> None:
        self.sample(baseline=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._halt.wait(0.5):
            self.sample()

    def stop(self) -> dict[tuple[str, int], float]:
        self._halt.set()
        self._thread.join()
        self.sample()
        spent: dict[tuple[str, int], float] = {}
        for pid, (key, seconds) in self.last.items():
            spent[key] = spent.get(key, 0.0) + seconds - self.first.get(pid, 0.0)
        return spent


class DatabaseWatch(threading.Thread):
    """Every 0.2 s, this Lodge's PostgreSQL backends and how many of them wait on a lock; and
    the transactions committed, on the bench's one admin connection (taken at its start:
    the server's connections are shared, and a loaded machine may have none to spare)."""

    def __init__(self, connection, databases: list[str]):
        super().__init__(daemon=True)
        self.databases = databases
        self.samples: list[int] = []
        self.backends: dict[int, tuple[str, int]] = {}
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._connection = connection

    def _query(self, sql: str) -> list[tuple]:
        with self._lock, self._connection.cursor() as cursor:
            cursor.execute(sql, (self.databases,))
            return cursor.fetchall()

    def run(self) -> None:
        while not self._halt.wait(0.2):
            rows = self._query(
                "SELECT pid, wait_event_type, backend_type, datname FROM pg_stat_activity "
                "WHERE datname = ANY(%s)"
            )
            self.backends.update({row[0]: self.kind(*row[2:]) for row in rows})
            self.samples.append(sum(1 for _, waits, _, _ in rows if waits == "Lock"))

    @staticmethod
    def kind(backend_type: str, database: str) -> tuple[str, int]:
        """A session of one of Lodge's databases ("pg intake"), or an autovacuum worker."""
        if "autovacuum" in backend_type:
            return ("autovacuum", 0)
        return (f"pg {owner_of(database)}", 0)

    def commits(self) -> int:
        """Transactions committed in these databases so far (a backend reports its own
        within a second or so of committing)."""
        rows = self._query(
            "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname = ANY(%s)"
        )
        return int(rows[0][0])

    def start(self) -> None:
        # the backends connected now, before the first sample: a CPU meter started next
        # takes their baseline, where it would count a backend first seen later from its
        # birth (a pooled connection's whole life, more with every run)
        self.backends.update(self.current())
        super().start()

    def named(self) -> dict[int, tuple[str, int]]:
        return dict(self.backends)

    def current(self) -> dict[int, tuple[str, int]]:
        """The backends connected now, asked afresh (for the rest, before `start()`)."""
        rows = self._query(
            "SELECT pid, backend_type, datname FROM pg_stat_activity WHERE datname = ANY(%s)"
        )
        return {pid: self.kind(backend, database) for pid, backend, database in rows}

    def stop(self) -> list[int]:
        self._halt.set()
        self.join()
        return self.samples


# what pg_stat_user_tables counts for a table: rows read by sequential scans and through
# indexes, and rows inserted, updated and deleted
TABLE_COUNTS = ("seq_tup_read", "idx_tup_fetch", "n_tup_ins", "n_tup_upd", "n_tup_del")


def owner_of(database: str) -> str:
    """The service a database of the test support's naming belongs to
    (lodge_<label>_<owner>_<run>; a label may hold underscores, an owner none)."""
    parts = database.split("_")
    return parts[-2] if len(parts) >= 4 else database


def table_activity(databases: list[str]) -> dict[str, dict[str, int]]:
    """Each table's cumulative counts in these databases (each asked on a connection of its
    own: the statistics are per database), keyed "database-owner.table"."""
    found: dict[str, dict[str, int]] = {}
    for name in databases:
        connection = psycopg2.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name)
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT relname, {', '.join(f'coalesce({c}, 0)' for c in TABLE_COUNTS)} "
                    "FROM pg_stat_user_tables"
                )
                for relname, *counts in cursor.fetchall():
                    found[f"{owner_of(name)}.{relname}"] = dict(
                        zip(TABLE_COUNTS, counts, strict=True)
                    )
        finally:
            connection.close()
    return found


def activity_between(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    return {
        table: {c: counts[c] - before.get(table, {}).get(c, 0) for c in TABLE_COUNTS}
        for table, counts in after.items()
    }


# --- counting what was published and written ------------------------------------------------


class CloudEventCounter:
    """A queue of the bench's own bound to every key of `lodge.events`: its length is how
    many CloudEvents Lodge published since the last `reset()`."""

    def __init__(self, amqp_uri: str):
        from kombu import Connection, Exchange, Queue

        self.connection = Connection(amqp_uri)
        self.queue = Queue(
            COUNTING_QUEUE,
            Exchange("lodge.events", type="topic", passive=True),
            routing_key="#",
            auto_delete=False,
        )
        self.bound = self.queue(self.connection.default_channel)
        self.bound.declare()

    def reset(self) -> None:
        self.bound.purge()

    def count(self) -> int:
        return self.bound.queue_declare(passive=True).message_count

    def close(self) -> None:
        self.bound.delete()
        self.connection.release()


def messages_published(system: LodgeSystem) -> int:
    """Messages published in this Lodge's vhost so far, by the management API (whose
    figures lag by up to 5 s: read it when the vhost has been still for longer)."""
    response = requests.get(
        f"{system.rabbit_api}/vhosts/{quote(system.vhost, safe='')}",
        auth=RABBIT_AUTH,
        timeout=60,
    )
    response.raise_for_status()
    return response.json().get("message_stats", {}).get("publish", 0)


def letters_written(system: LodgeSystem) -> int:
    return sum(1 for path in system.mail_dir.rglob("*") if path.is_file())


# --- the second `lodge run` -----------------------------------------------------------------


def start_second_run(system: LodgeSystem, timeout: float) -> subprocess.Popen:
    """`lodge run` again with the first one's settings (migrate and seed find nothing to do),
    once each of its processes consumes or listens beside the first's."""
    assert system.root is not None
    log = open(system.root / "second-run.log", "ab", buffering=0)  # noqa: SIM115 - closed with it
    process = subprocess.Popen(
        [system.python, "-m", "lodge", "run"],
        cwd=REPO_ROOT,
        env=system.env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()

    waiting = ["not looked yet"]

    def doubled() -> bool:
        if process.poll() is not None:
            raise RuntimeError(
                f"the second `lodge run` exited with {process.returncode}:\n{second_log(system)}"
            )
        queues = system.queues()
        wanted = [f"rpc-{name}" for name in rpc_service_names()] + [INBOX_QUEUE]
        wanted += [n for n in queues if n.startswith("evt-") and ".retry." not in n]
        waiting[:] = [n for n in wanted if queues.get(n, {}).get("consumers", 0) < 2]
        gateways = [pid for pid, name in processes_below(process.pid).items() if name == "gateway"]
        if len(gateways) < 1 + GATEWAY_WORKERS:
            waiting.append(f"gateway ({len(gateways)} of {1 + GATEWAY_WORKERS} processes)")
        return not waiting

    try:
        poll_until(doubled, timeout=timeout, interval=1.0, description="the second instances")
    except AssertionError as err:
        stop_run(process, system.stop_timeout)
        raise AssertionError(
            f"{err}; still waiting for {', '.join(waiting)}\n{second_log(system)}"
        ) from None
    return process


def second_log(system: LodgeSystem, lines: int = 40) -> str:
    assert system.root is not None
    text = (system.root / "second-run.log").read_bytes().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def stop_run(process: subprocess.Popen, timeout: float) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()  # its children have PR_SET_PDEATHSIG: they get SIGTERM
        process.wait(timeout=10)


# --- one run of deposits --------------------------------------------------------------------


def run_phase(
    admin,
    system: LodgeSystem,
    roots: list[int],
    counter: CloudEventCounter,
    args: argparse.Namespace,
    offset: int,
) -> Phase:
    phase = Phase("one instance" if len(roots) == 1 else "two instances", len(roots), args.n)
    token = system.token("student")
    local = threading.local()

    def client() -> LodgeClient:
        if not hasattr(local, "client"):
            local.client = LodgeClient(system.base_url, token, "student")
        return local.client

    def prepare(number: int) -> str:
        deposit = client().create_deposit("open-works", metadata(number))
        client().upload(deposit["id"], "paper.pdf", pdf_bytes(number))
        client().accept_terms(deposit["id"])
        return deposit["id"]

    with ThreadPoolExecutor(args.concurrency) as pool:
        ids = list(pool.map(prepare, range(offset, offset + args.n)))
    wait_quiet(system)

    databases = [url.rsplit("/", 1)[1] for url in system.database_urls.values()]
    database = DatabaseWatch(admin, databases)
    idle = CpuMeter(roots, database.current)
    idle.start()
    time.sleep(args.idle)  # what the processes spend with nothing to do: timers, relays, polls
    phase.idle = {key: seconds / args.idle for key, seconds in idle.stop().items()}

    counter.reset()
    letters_before = letters_written(system)
    time.sleep(STATS_LAG)
    published_before = messages_published(system)
    commits_before = database.commits()
    tables_before = table_activity(databases)
    phase.load = os.getloadavg()[0]
    meter = CpuMeter(roots, database.named)
    watcher = ArchivedWatcher(system.amqp_uri)
    watcher.start()
    watcher.ready.wait(30)
    if watcher.failure is not None:
        raise RuntimeError(f"cannot watch lodge.events: {watcher.failure!r}")
    answered: dict[str, float] = {}
    database.start()
    meter.start()
    measured_from = time.monotonic()
    first_sent = time.time()

    def submit(deposit_id: str) -> None:
        expect(client().post(f"/api/v1/deposits/{deposit_id}/actions/submit"), 200)
        answered[deposit_id] = time.time()

    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(submit, ids))
    deadline = time.monotonic() + args.deadline
    wanted = set(ids)
    while not wanted <= watcher.seen.keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    watcher.stop()
    watcher.join(timeout=10)
    seen = {i: watcher.seen[i] for i in wanted & watcher.seen.keys()}
    wait_quiet(system)  # the letters and CloudEvents that follow `archived` count too
    phase.cpu = meter.stop()
    phase.window = time.monotonic() - measured_from
    phase.lock_samples = database.stop()
    phase.archived = len(seen)
    if seen:
        phase.seconds = max(t for t, _ in seen.values()) - first_sent
        phase.latencies_ms = [(seen[i][0] - answered[i]) * 1000 for i in seen if i in answered]
    phase.cloudevents = counter.count()
    phase.letters = letters_written(system) - letters_before
    time.sleep(STATS_LAG)
    phase.published = messages_published(system) - published_before
    phase.commits = database.commits() - commits_before
    phase.tables = activity_between(tables_before, table_activity(databases))
    return phase


def wait_quiet(system: LodgeSystem, timeout: float = 60.0) -> None:
    """Until the event queues are empty and no letter was written for two seconds."""
    deadline = time.monotonic() + timeout
    last, still_since = letters_written(system), time.monotonic()
    while time.monotonic() < deadline:
        now = letters_written(system)
        if now != last:
            last, still_since = now, time.monotonic()
        if not event_backlog(system) and time.monotonic() - still_since >= 2.0:
            return
        time.sleep(0.25)


# --- the report -----------------------------------------------------------------------------


def report(one: Phase, two: Phase) -> int:
    """Print every figure beside its target; 1 if a deposit was lost or CPU per deposit rose."""
    print(
        f"\n{'run':<14} {'archived':>9} {'deposits/s':>11} {'p50 ms':>7} {'p95 ms':>7} {'load':>5}"
    )
    for phase in (one, two):
        p50 = percentile(phase.latencies_ms, 50) if phase.latencies_ms else float("nan")
        p95 = percentile(phase.latencies_ms, 95) if phase.latencies_ms else float("nan")
        print(
            f"{phase.label:<14} {phase.archived:>4}/{phase.deposits:<4} {phase.rate:>11.1f} "
            f"{p50:>7.0f} {p95:>7.0f} {phase.load:>5.1f}"
        )
    ratio = two.rate / one.rate if one.rate else float("nan")
    print(f"throughput ratio two/one: {ratio:.2f} (CPU-bound on this machine's cores: about 1)")

    names = sorted({name for name, _ in one.cpu} | {name for name, _ in two.cpu})
    print(
        "\nCPU: at rest (ms a second), and per deposit (ms) in all and less what rest costs"
        f" over the run (target: two instances' ≤ {CPU_TOLERANCE:g}× one's, less rest)\n"
        f"{'process':<11} {'rest 1':>6} {'rest 2':>6} {'one':>6} {'two':>6} "
        f"{'1st':>6} {'2nd':>6} {'one-r':>6} {'two-r':>6} {'×':>5}"
    )
    risen = []
    for name in [*names, "Lodge"]:  # Lodge: every process of Lodge's, not PostgreSQL

        def wanted(key: tuple[str, int], instance: int | None, name: str = name) -> bool:
            process, number = key
            return (process == name or (name == "Lodge" and number > 0)) and instance in (
                None,
                number,
            )

        def rest(phase: Phase) -> float:  # ms a second
            return sum(v for key, v in phase.idle.items() if wanted(key, None)) * 1000

        def per(phase: Phase, instance: int | None = None, less_rest: bool = False) -> float:
            spent = sum(v for key, v in phase.cpu.items() if wanted(key, instance))
            if less_rest:
                spent -= rest(phase) / 1000 * phase.window
            return spent / max(phase.archived, 1) * 1000

        before, after = per(one, less_rest=True), per(two, less_rest=True)
        times = after / before if before > 0 else float("nan")
        if before > 0 and times > CPU_TOLERANCE:
            risen.append(name)
        shares = (
            f"{'–':>6} {'–':>6}"
            if name.startswith("pg ") or name == "autovacuum"
            else f"{per(two, 1):>6.1f} {per(two, 2):>6.1f}"
        )
        print(
            f"{name:<11} {rest(one):>6.1f} {rest(two):>6.1f} {per(one):>6.1f} {per(two):>6.1f} "
            f"{shares} {before:>6.1f} {after:>6.1f} {times:>5.2f}"
        )

    print("\nduplicate work and hot rows (target: the same per deposit with two instances):")
    for label, pick in (
        ("CloudEvents on lodge.events per deposit", lambda p: p.cloudevents),
        ("letters written per deposit", lambda p: p.letters),
        ("messages published in the vhost per deposit", lambda p: p.published),
        ("database commits per deposit", lambda p: p.commits),
    ):
        print(
            f"  {label:<45} one {pick(one) / max(one.archived, 1):.2f}, "
            f"two {pick(two) / max(two.archived, 1):.2f}"
        )
    for phase in (one, two):
        samples = phase.lock_samples or [0]
        mean = sum(samples) / len(samples)
        print(
            f"  sessions waiting on a lock ({phase.label}): "
            f"mean {mean:.2f}, max {max(samples)} over {len(samples)} samples"
        )

    report_tables(one, two)

    lost = (one.deposits - one.archived) + (two.deposits - two.archived)
    if lost:
        print(f"\n{lost} deposits lost")
    if risen:
        print(f"\nCPU per deposit rose with the second instance: {', '.join(risen)}")
    return 1 if lost or risen else 0


def report_tables(one: Phase, two: Phase, rows: int = 12) -> None:
    """The tables whose rows read and written per deposit changed most with two instances."""

    def per(phase: Phase, table: str) -> dict[str, float]:
        counts = phase.tables.get(table, {})
        return {c: counts.get(c, 0) / max(phase.archived, 1) for c in TABLE_COUNTS}

    def touched(figures: dict[str, float]) -> float:
        return sum(figures.values())

    tables = sorted(
        set(one.tables) | set(two.tables),
        key=lambda t: -abs(touched(per(two, t)) - touched(per(one, t))),
    )
    print(
        "\nrows per deposit by table, one instance → two (read by sequential scans, read "
        "through indexes, inserted, updated, deleted), the largest changes first:"
    )
    for table in tables[:rows]:
        a, b = per(one, table), per(two, table)
        cells = "  ".join(f"{a[c]:7.1f} → {b[c]:<7.1f}" for c in TABLE_COUNTS)
        print(f"  {table:<32} {cells}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="deposits per run (default 300)")
    parser.add_argument("--concurrency", type=int, default=8, help="submitting threads (default 8)")
    parser.add_argument(
        "--idle", type=float, default=10.0, help="seconds of rest measured before each run"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=120.0,
        help="seconds after the last submit before a deposit counts as lost",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep both `lodge run`s' logs in test-artifacts/"
    )
    parser.add_argument(
        "--own-broker",
        action="store_true",
        help="run on a RabbitMQ node of the bench's own, not the machine's (when others load it)",
    )
    args = parser.parse_args()
    print(
        f"Lodge scale-out bench: {args.n} open-works deposits per run, unpaced, concurrency "
        f"{args.concurrency}, PostgreSQL; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    broker = RabbitNode().start() if args.own_broker else None
    system = LodgeSystem(
        "postgresql",
        label="scaleout",
        extra_env={"LODGE_GATEWAY_REUSE_PORT": "true"},
        cluster=broker,
        keep_artifacts=args.keep or None,
    )
    second = None
    try:
        system.start()
        assert system.process is not None
        counter = CloudEventCounter(system.amqp_uri)
        admin = psycopg2.connect(PG_ADMIN_DSN)
        admin.autocommit = True
        try:
            one = run_phase(admin, system, [system.process.pid], counter, args, offset=0)
            print(f"one instance: {one.archived} archived at {one.rate:.1f}/s", flush=True)
            second = start_second_run(system, timeout=system.start_timeout)
            two = run_phase(admin, system, [system.process.pid, second.pid], counter, args, args.n)
            print(f"two instances: {two.archived} archived at {two.rate:.1f}/s", flush=True)
        finally:
            counter.close()
            admin.close()
        return report(one, two)
    finally:
        if second is not None:
            stop_run(second, system.stop_timeout)
            if system.keep_artifacts and system.root is not None:
                ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
                kept = ARTIFACTS_DIR / f"scaleout-second-run-{system.run_id}.log"
                shutil.copyfile(system.root / "second-run.log", kept)
                print(f"second run's log kept at {kept}")
        system.stop()
        if system.artifact_path:
            print(f"log kept at {system.artifact_path}")
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
