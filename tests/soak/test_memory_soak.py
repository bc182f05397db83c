"""No process grows without bound: a whole Lodge under steady load for 20 minutes.

Drives deposits at a steady rate (create, upload, accept the terms, submit; each then
archived by the pipeline) with reads beside them (the depositor's list, an OAI-PMH page),
samples the resident memory of every process of `lodge run` every few seconds, and fails
if any keeps growing (tests/support/memory.py says how that is judged and why). Prints
each process's memory at rest and under load (run with -s, as `make soak` does).

Marked `soak`, which the default run deselects: `make soak` (SOAK_MINUTES=20), or
`pytest tests/soak -m soak -s --soak-minutes 5` for a shorter look.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.resources import processes_below, usage
from bench.workload import metadata, pdf_bytes
from tests.support.cluster import RabbitNode
from tests.support.memory import MIB, judge
from tests.support.system import LodgeClient, LodgeSystem, expect, poll_until

pytestmark = pytest.mark.soak

RATE = 2.0  # deposits a second: what this two-core machine keeps up with beside other work
THREADS = 4
SAMPLE_EVERY = 5.0
WARM_UP_SHARE = 0.25


class Memory(threading.Thread):
    """Every `SAMPLE_EVERY` seconds, each process name's summed resident bytes (a gateway's
    master and workers, validation and its readers) and its largest single process."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.started = time.monotonic()
        self.samples: dict[str, list[tuple[float, int]]] = {}
        self.largest: dict[str, int] = {}
        self._halt = threading.Event()

    def sample(self) -> dict[str, int]:
        now = time.monotonic() - self.started
        summed: dict[str, int] = {}
        for pid, name in processes_below(self.root).items():
            if (used := usage(pid)) is not None:
                summed[name] = summed.get(name, 0) + used[0]
                self.largest[name] = max(self.largest.get(name, 0), used[0])
        for name, rss in summed.items():
            self.samples.setdefault(name, []).append((now, rss))
        return summed

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_EVERY):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()


class SteadyLoad:
    """Deposits at `rate` a second from a few threads, each followed by a read, until told
    to stop; every deposit submitted is remembered, to see that none is lost."""

    def __init__(self, system: LodgeSystem, rate: float):
        self.system = system
        self.rate = rate
        self.token = system.client("student").headers["Authorization"].removeprefix("Bearer ")
        self.submitted: list[str] = []
        self.failures: list[str] = []
        self._halt = threading.Event()
        self._next = 0
        self._lock = threading.Lock()
        self._began = time.monotonic()

    def _slot(self) -> int | None:
        """The next deposit's number, once its time has come (None: stop)."""
        with self._lock:
            number = self._next
            self._next += 1
        delay = self._began + number / self.rate - time.monotonic()
        if self._halt.wait(max(0.0, delay)):
            return None
        return number

    def _work(self) -> None:
        client = LodgeClient(self.system.base_url, self.token, "student")
        anonymous = LodgeClient(self.system.base_url)
        while (number := self._slot()) is not None:
            try:
                deposit = client.create_deposit("open-works", metadata(number, "Soak deposit"))
                client.upload(deposit["id"], "paper.pdf", pdf_bytes(number))
                client.submit(deposit["id"])
                self.submitted.append(deposit["id"])
                expect(client.get("/api/v1/deposits", params={"per_page": 20}), 200)
                if number % 10 == 0:
                    expect(
                        anonymous.get(
                            "/oai", params={"verb": "ListRecords", "metadataPrefix": "oai_dc"}
                        ),
                        200,
                    )
            except Exception as err:  # noqa: BLE001 - counted and shown; the load goes on
                self.failures.append(f"deposit {number}: {err}"[:500])

    def run_for(self, seconds: float) -> None:
        timer = threading.Timer(seconds, self._halt.set)
        timer.start()
        with ThreadPoolExecutor(THREADS) as pool:
            for _ in range(THREADS):
                pool.submit(self._work)
        timer.cancel()


def archived_count(client: LodgeClient) -> int:
    response = expect(
        client.get("/api/v1/deposits", params={"status": "archived", "per_page": 1}), 200
    )
    return response["total"]


def test_no_process_grows_without_bound(soak_minutes):
    seconds = soak_minutes * 60
    # a broker of its own: twenty minutes on the machine's shared one would also measure
    # whatever else loads it (its own memory is not Lodge's, and not sampled)
    with RabbitNode() as broker, LodgeSystem("postgresql", label="soak", cluster=broker) as system:
        assert system.process is not None
        memory = Memory(system.process.pid)
        poll_until(lambda: len(memory.sample()) >= 7, timeout=30, description="every process")
        at_rest = {name: rows[-1][1] for name, rows in memory.samples.items()}
        memory.started = time.monotonic()
        memory.samples.clear()
        memory.start()
        load = SteadyLoad(system, RATE)
        try:
            load.run_for(seconds)
        finally:
            memory.stop()
        student = system.client("student")
        poll_until(
            lambda: archived_count(student) >= len(load.submitted),
            timeout=180,
            interval=1.0,
            description=f"all {len(load.submitted)} deposits archived",
        )

    warm_up = seconds * WARM_UP_SHARE
    verdicts = {name: judge(rows, warm_up) for name, rows in sorted(memory.samples.items())}
    lines = [
        f"{soak_minutes:g} min, {RATE:g} deposits/s offered: {len(load.submitted)} deposits "
        f"({len(load.submitted) / seconds:.2f}/s), "
        f"{len(load.failures)} failed requests; resident MiB (summed per process name):",
        f"{'process':<11} {'at rest':>8} {'early':>6} {'late':>6} {'largest':>8}  last half",
    ]
    for name, verdict in verdicts.items():
        lines.append(
            f"{name:<11} {at_rest.get(name, 0) / MIB:>8.0f} {verdict.early / MIB:>6.0f} "
            f"{verdict.late / MIB:>6.0f} {memory.largest.get(name, 0) / MIB:>8.0f}  "
            f"{verdict.slope / MIB:+.1f} MiB/h{'  GROWS' if verdict.grows else ''}"
        )
    print("\n" + "\n".join(lines))
    # memory is what this test is about: a request refused now and then by a machine that
    # others load (PostgreSQL out of connections) is shown, a steady stream of them fails it
    assert len(load.failures) <= len(load.submitted) // 100, "\n".join(load.failures[:20])
    growing = [name for name, verdict in verdicts.items() if verdict.grows]
    assert not growing, "\n".join(lines)
