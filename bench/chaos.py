"""Chaos bench: deposits keep flowing while Lodge's processes, broker connections and
database backends are killed under them; then counts what was lost or done twice.

Starts a Lodge of its own on PostgreSQL through `lodge run` (tests/support/system.py: its
own databases, vhost, data folder and port), so `lodge run`'s supervision brings back what
is killed. Sends N deposits from a few threads, alternately open-works (approved
automatically) and thesis (approved over the REST API by the demo approver as they reach
the queue), and meanwhile, one fault after another in an order the seed fixes:

- SIGKILL to a random service (`--kills` times); the inbox worker (campus systems'
  requests: tests/e2e/test_campus_inbox.py drives it under faults) is only waited for;
- SIGKILL to the gateway worker that is receiving an upload (found by the upload's socket);
- every broker connection of the vhost closed through the management API;
- every PostgreSQL backend of its databases ended with pg_terminate_backend.

After each fault it waits until Lodge is whole again (every process there, the gateway's
/readyz and an API call answering, every queue consumed) and notes how long that took, and
how long until the next deposit reached `archived`. Then it waits for quiescence and prints
what was submitted, archived and stuck, duplicates (items, files, letters) and
dead-lettered messages. Exit status 1 if anything was lost, doubled or dead-lettered, or a
recovery took 30 s or more.

    python bench/chaos.py --deposits 200 --kills 15 --seed 1

The client behaves as a careful API client: an Idempotency-Key on every POST, and the same
request again after a lost connection or a 5xx. The broker's management API refreshes queue
consumer counts every few seconds, so recovery times read up to ~5 s long.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import quote

import psycopg2
import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.workload import (  # noqa: E402
    dead_lettered,
    event_backlog,
    metadata,
    pdf_bytes,
    server_time,
    stop_and_report,
)
from tests.support.system import (  # noqa: E402
    PG_ADMIN_DSN,
    RABBIT_API,
    RABBIT_AUTH,
    SERVICE_NAMES,
    LodgeClient,
    LodgeSystem,
    close_broker_connections,
    rpc_service_names,
)

TITLE = "Chaos deposit"
FILE_PADDING = 256 * 1024  # uploads big enough to be cut in the middle
RETRY_FOR = 180.0  # seconds a client keeps sending one request again
# a key whose request died with its gateway worker stays "still running" for an hour
# (gateway/http/idempotency.py); after this long the client takes a fresh key
STUCK_KEY_AFTER = 45.0
RECOVERY_LIMIT = 180.0
RECOVERY_TARGET = 30.0
FINAL = {"archived", "declined", "withdrawn"}


@dataclass
class Tally:
    """What the client saw, shared by every thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    submitted: dict[str, int] = field(default_factory=dict)  # deposit id → number
    submit_times: list[float] = field(default_factory=list)  # time.monotonic() of each
    server_errors: Counter = field(default_factory=Counter)  # "POST /path 500"
    retries: int = 0
    fresh_keys: Counter = field(default_factory=Counter)  # route → fresh keys taken
    approvals: int = 0
    failures: list[str] = field(default_factory=list)
    # deposit number → what its requests met before they were answered, to explain a duplicate
    trails: dict[int, list[str]] = field(default_factory=dict)

    def add(self, attribute: str, value: int = 1) -> None:
        with self.lock:
            setattr(self, attribute, getattr(self, attribute) + value)


class Client(LodgeClient):
    """A LodgeClient that sends a request again until Lodge answers it."""

    def __init__(self, system: LodgeSystem, username: str, tally: Tally):
        super().__init__(system.base_url, system.token(username), username, timeout=60)
        self.tally = tally
        self.local = threading.local()  # .trail: this thread's deposit's trail

    def note(self, method: str, path: str, outcome: str) -> None:
        trail = getattr(self.local, "trail", None)
        if trail is not None:
            trail.append(f"{time.strftime('%H:%M:%S')} {route(method, path)} {outcome}")

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """The first answer that is neither a 5xx nor a 409 for a key still running; POSTs
        carry one Idempotency-Key, fresh only once the old one looks abandoned."""
        headers = dict(kwargs.pop("headers", None) or {})
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        deadline = time.monotonic() + RETRY_FOR
        key_since = time.monotonic()
        while True:
            try:
                response = self.request(method, path, headers=headers, **kwargs)
            except requests.RequestException as err:
                response = None
                self.note(method, path, type(err).__name__)
            if response is not None:
                self.note(method, path, str(response.status_code))
                if response.status_code >= 500:
                    # 503 is what a missing backend answers; anything else is a finding
                    if response.status_code != 503:
                        with self.tally.lock:
                            self.tally.server_errors[
                                f"{route(method, path)} {response.status_code}"
                            ] += 1
                elif response.status_code == 409 and _key_still_running(response):
                    if time.monotonic() - key_since > STUCK_KEY_AFTER:
                        headers["Idempotency-Key"] = uuid.uuid4().hex
                        key_since = time.monotonic()
                        with self.tally.lock:
                            self.tally.fresh_keys[route(method, path)] += 1
                else:
                    return response
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: no answer within {RETRY_FOR:.0f} s")
            self.tally.add("retries")
            time.sleep(0.5)


def route(method: str, path: str) -> str:
    """`POST /api/v1/deposits/{id}/files`: a request's method and path without ids."""
    return f"{method} {re.sub(r'/[0-9a-f]{32}', '/{id}', path.split('?')[0])}"


def _key_still_running(response: requests.Response) -> bool:
    try:
        return "Idempotency-Key" in response.json()["error"]["fields"]
    except (ValueError, KeyError, TypeError):
        return False


def expect_ok(response: requests.Response, *statuses: int) -> dict:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response.json()


# --- deposits ------------------------------------------------------------------------------


def profile_of(number: int) -> str:
    return "thesis" if number % 2 else "open-works"


def make_deposit(client: Client, number: int, cut_upload=None) -> str:
    """Create, upload, accept the terms and submit deposit `number`; its id. `cut_upload`,
    when given, is called with the draft's id first (the worker-kill fault)."""
    extra = {"degree": "Master"} if profile_of(number) == "thesis" else {}
    body = {"profile_id": profile_of(number), "metadata": metadata(number, TITLE, **extra)}
    trail: list[str] = []
    client.local.trail = trail
    deposit = expect_ok(client.call("POST", "/api/v1/deposits", json=body), 201)
    content = pdf_bytes(number, FILE_PADDING)
    if cut_upload is not None:
        cut_upload(deposit["id"], content)
    expect_ok(
        client.call(
            "POST",
            f"/api/v1/deposits/{deposit['id']}/files",
            params={"filename": "paper.pdf"},
            data=content,
            headers={"Content-Type": "application/octet-stream"},
        ),
        201,
    )
    expect_ok(
        client.call("PATCH", f"/api/v1/deposits/{deposit['id']}", json={"accept_terms": True}),
        200,
    )
    answer = client.call("POST", f"/api/v1/deposits/{deposit['id']}/actions/submit")
    # a submit whose answer was lost and whose key was abandoned: already submitted
    if answer.status_code == 409:
        status = expect_ok(client.call("GET", f"/api/v1/deposits/{deposit['id']}"), 200)["status"]
        if status == "draft":
            expect_ok(answer, 200)
    else:
        expect_ok(answer, 200)
    with client.tally.lock:
        client.tally.submitted[deposit["id"]] = number
        client.tally.submit_times.append(time.monotonic())
        client.tally.trails[number] = trail
    client.local.trail = None
    return deposit["id"]


def approve_as_they_come(approver: Client, tally: Tally, halt: threading.Event) -> None:
    """The approver decides every open review of the bench's theses as it appears."""
    decided: set[str] = set()
    while not halt.wait(0.5):
        try:
            tasks = approver.get("/api/v1/reviews", params={"per_page": 100}).json()["items"]
        except (requests.RequestException, ValueError, KeyError):
            continue
        for task in tasks:
            if task["deposit_id"] in decided or task.get("state") != "open":
                continue
            try:
                answer = approver.call(
                    "POST",
                    f"/api/v1/reviews/{task['deposit_id']}/actions/approve",
                    json={"note": "Approved by the chaos bench."},
                )
            except RuntimeError as err:
                tally.failures.append(f"approve {task['deposit_id']}: {err}")
                continue
            if answer.status_code == 200:
                decided.add(task["deposit_id"])
                tally.add("approvals")


# --- faults --------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    target: str
    at: float  # time.monotonic()
    wall: str = field(default_factory=lambda: time.strftime("%H:%M:%S"))
    recovered_after: float | None = None
    progress_after: float | None = None


class Faults:
    """Applies faults to one Lodge and waits, after each, until it is whole again."""

    def __init__(self, system: LodgeSystem, client: Client, rng: random.Random):
        self.system = system
        self.client = client
        self.rng = rng
        self.done: list[Fault] = []
        self.workers = len(system.gateway_workers())
        self.database_names = [url.rsplit("/", 1)[1] for url in system.database_urls.values()]

    def apply(self, kind: str, next_number) -> None:
        fault = getattr(self, kind)(next_number) if kind == "worker" else getattr(self, kind)()
        if fault is None:
            return
        self.done.append(fault)
        fault.recovered_after = self.wait_until_whole(fault)
        print(
            f"  {fault.wall} {fault.kind} {fault.target}: "
            + (
                f"whole again after {fault.recovered_after:.1f} s"
                if fault.recovered_after is not None
                else f"NOT whole after {RECOVERY_LIMIT:.0f} s"
            ),
            flush=True,
        )

    def service(self) -> Fault | None:
        name = self.rng.choice(SERVICE_NAMES)
        pid = self.system.processes().get(name)
        if pid is None:
            return None
        os.kill(pid, signal.SIGKILL)
        return Fault("kill service", f"{name} (pid {pid})", time.monotonic())

    def worker(self, next_number) -> Fault | None:
        """Make one more deposit whose first upload is cut by killing the worker receiving it."""
        killed: list[Fault] = []

        def cut(deposit_id: str, content: bytes) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.system.port, timeout=30)
            connection.putrequest("POST", f"/api/v1/deposits/{deposit_id}/files?filename=x.pdf")
            connection.putheader("Authorization", self.client.headers["Authorization"])
            connection.putheader("Content-Type", "application/octet-stream")
            connection.putheader("Content-Length", str(len(content)))
            connection.endheaders()
            connection.send(content[: len(content) // 2])
            port = connection.sock.getsockname()[1]
            deadline = time.monotonic() + 10
            while (pid := serving_worker(self.system, port)) is None:
                if time.monotonic() > deadline:
                    connection.close()
                    return
                time.sleep(0.02)
            os.kill(pid, signal.SIGKILL)
            killed.append(Fault("kill gateway worker", f"pid {pid} mid-upload", time.monotonic()))
            try:
                connection.send(content[len(content) // 2 :])
                connection.getresponse().read()
            except OSError:
                pass
            connection.close()

        make_deposit(self.client, next_number(), cut_upload=cut)
        return killed[0] if killed else None

    def broker(self) -> Fault:
        closed = close_broker_connections(self.system.vhost, None, "chaos bench")
        return Fault("close broker connections", f"{closed} connections", time.monotonic())

    def database(self) -> Fault:
        [(ended,)] = rows(
            PG_ADMIN_DSN,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (self.database_names,),
        )
        return Fault("terminate database backends", f"{ended} backends", time.monotonic())

    def wait_until_whole(self, fault: Fault) -> float | None:
        deadline = fault.at + RECOVERY_LIMIT
        while time.monotonic() < deadline:
            if self.whole():
                return time.monotonic() - fault.at
            time.sleep(0.1)
        return None

    def unconsumed(self) -> set[str]:
        wanted = {f"rpc-{name}" for name in rpc_service_names()} | {
            name
            for name in self.system.queues()
            if name.startswith("evt-") and ".retry" not in name  # its delay queues have no consumer
        }
        return wanted - consumed_queues(self.system)

    def whole(self) -> bool:
        if set(self.system.processes()) < set(SERVICE_NAMES) | {"gateway", "inbox"}:
            return False
        if len(self.system.gateway_workers()) < self.workers:
            return False
        try:
            if self.system.readiness_problem() is not None or self.unconsumed():
                return False
            probe = self.client.get("/api/v1/deposits", params={"per_page": 1}, timeout=10)
        except requests.RequestException:
            return False
        return probe.status_code == 200


def consumed_queues(system: LodgeSystem) -> set[str]:
    """The queues of the vhost with a consumer now. The management API drops a consumer
    from this list at once and shows a new one within its statistics interval, where the
    queue list's consumer counts also lag on the way down."""
    response = requests.get(
        f"{RABBIT_API}/consumers/{quote(system.vhost, safe='')}", auth=RABBIT_AUTH, timeout=10
    )
    response.raise_for_status()
    return {consumer["queue"]["name"] for consumer in response.json()}


def rows(url: str, sql: str, parameters: tuple = ()) -> list[tuple]:
    """Every row `sql` returns on a connection of its own, closed after."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
    finally:
        connection.close()


def serving_worker(system: LodgeSystem, client_port: int) -> int | None:
    """The gateway worker holding the server end of the connection from `client_port`."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == system.port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            inode = fields[9]
    if inode is None or inode == "0":
        return None
    for pid in system.gateway_workers():
        try:
            links = [os.readlink(entry) for entry in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if f"socket:[{inode}]" in links:
            return pid
    return None


class ProgressWatcher(threading.Thread):
    """Notes when the count of archived deposits grows, to time progress after a fault."""

    def __init__(self, client: Client):
        super().__init__(daemon=True)
        self.client = client
        self.growth: list[tuple[float, int]] = []  # (time.monotonic(), archived)
        self.halt = threading.Event()

    def run(self) -> None:
        last = -1
        while not self.halt.wait(0.5):
            try:
                response = self.client.get(
                    "/api/v1/deposits", params={"status": "archived", "per_page": "1"}, timeout=10
                )
                total = response.json()["total"] if response.status_code == 200 else None
            except (requests.RequestException, ValueError, KeyError):
                total = None
            if total is not None and total > last:
                self.growth.append((time.monotonic(), total))
                last = total

    def progress_after(self, moment: float, submit_times: list[float]) -> float | None:
        """Seconds from `moment` until the archived count next grew; None if no deposit
        was in the pipeline then."""
        archived = max((total for at, total in self.growth if at <= moment), default=0)
        if sum(at <= moment for at in submit_times) <= archived:
            return None
        return next((at - moment for at, _ in self.growth if at > moment), None)


# --- the run -------------------------------------------------------------------------------


def schedule(kills: int, rng: random.Random) -> list[str]:
    """The faults in a seeded order: `kills` service kills and a fifth as many of each
    other kind (at least two)."""
    others = max(2, kills // 5)
    plan = ["service"] * kills + ["worker", "broker", "database"] * others
    rng.shuffle(plan)
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deposits", type=int, default=200, help="deposits (default 200)")
    parser.add_argument("--kills", type=int, default=15, help="services killed (default 15)")
    parser.add_argument("--seed", type=int, default=1, help="fixes the faults and their order")
    parser.add_argument("--rate", type=float, default=1.0, help="deposits a second (default 1)")
    parser.add_argument("--concurrency", type=int, default=4, help="sending threads (default 4)")
    parser.add_argument(
        "--settle", type=float, default=120.0, help="seconds without progress that end the wait"
    )
    parser.add_argument("--keep", action="store_true", help="keep the Lodge log in test-artifacts/")
    args = parser.parse_args()
    print(
        f"Lodge chaos bench: {args.deposits} deposits at {args.rate:g}/s, {args.kills} service "
        f"kills, seed {args.seed}",
        flush=True,
    )
    # the default first retry delay, not the tests' 100 ms: the retries an operator's Lodge has
    system = LodgeSystem(
        "postgresql",
        label="chaos",
        keep_artifacts=args.keep or None,
        # every request's status in the log, to explain what the client met
        extra_env={"LODGE_HANDLER_RETRY_DELAY_MS": "500", "LODGE_ACCESS_LOG": "true"},
    )
    try:
        system.start()
        print(f"started Lodge at {system.base_url}", flush=True)
        return run(system, args)
    finally:
        stop_and_report(system)


def run(system: LodgeSystem, args) -> int:
    rng = random.Random(args.seed)
    tally = Tally()
    student = Client(system, "student", tally)
    approver = Client(system, "approver", tally)
    halt = threading.Event()
    approving = threading.Thread(target=approve_as_they_come, args=(approver, tally, halt))
    approving.start()
    watcher = ProgressWatcher(student)
    watcher.start()
    numbers = iter(range(10**9))
    numbers_lock = threading.Lock()

    def next_number() -> int:
        with numbers_lock:
            return next(numbers)

    start = time.monotonic()

    def send(_: int) -> None:
        number = next_number()
        delay = start + number / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            make_deposit(student, number)
        except RuntimeError as err:
            tally.failures.append(f"deposit {number}: {err}")

    faults = Faults(system, student, rng)
    sending = ThreadPoolExecutor(args.concurrency)
    futures = [sending.submit(send, index) for index in range(args.deposits)]
    print("faults:", flush=True)
    for kind in schedule(args.kills, rng):
        time.sleep(rng.uniform(1.0, 4.0))
        faults.apply(kind, next_number)
    for future in futures:
        future.result()
    sending.shutdown()
    print(f"sent {len(tally.submitted)} deposits; waiting for quiescence", flush=True)

    statuses = wait_for_quiescence(student, tally, args.settle)
    halt.set()
    approving.join()
    watcher.halt.set()
    watcher.join()
    for fault in faults.done:
        fault.progress_after = watcher.progress_after(fault.at, tally.submit_times)
    return report(system, student, tally, statuses, faults.done)


def wait_for_quiescence(client: Client, tally: Tally, settle: float) -> dict[str, str]:
    """Every submitted deposit's status once all are final, or nothing changed for `settle`."""
    last_change, last = time.monotonic(), dict[str, str]()
    while True:
        statuses = {}
        for deposit_id in list(tally.submitted):
            response = client.call("GET", f"/api/v1/deposits/{deposit_id}")
            statuses[deposit_id] = response.json()["status"] if response.ok else "unreadable"
        if statuses != last:
            last, last_change = statuses, time.monotonic()
        if all(status in FINAL for status in statuses.values()):
            return statuses
        if time.monotonic() - last_change > settle:
            return statuses
        time.sleep(2)


def report(system, client, tally, statuses, faults) -> int:
    deadline = time.monotonic() + 30
    while (backlog := event_backlog(system)) and time.monotonic() < deadline:
        time.sleep(1)
    dead = dead_lettered(system)
    archived = sum(status == "archived" for status in statuses.values())
    stuck = Counter(status for status in statuses.values() if status != "archived")
    items, letters_twice, sent_twice = duplicates_in_databases(system)
    files: Counter[int] = Counter()
    explain, took = set(), []
    for deposit_id in statuses:
        deposit = client.call("GET", f"/api/v1/deposits/{deposit_id}").json()
        files[len(deposit.get("files") or [])] += 1
        if len(deposit.get("files") or []) != 1:
            explain.add(tally.submitted[deposit_id])
        took.append((time_in_pipeline(deposit), tally.submitted[deposit_id], deposit["history"]))
    titles = Counter(
        title
        for title in all_titles(client)
        if title.startswith(TITLE + " ")  # drafts made twice by a retried create
    )
    recoveries = [f.recovered_after for f in faults if f.recovered_after is not None]
    unrecovered = [f for f in faults if f.recovered_after is None]
    progress = [f.progress_after for f in faults if f.progress_after is not None]
    by_kind = Counter(f.kind for f in faults)

    print()
    print(f"submitted:          {len(tally.submitted)}")
    print(f"archived:           {archived}")
    print(f"stuck, by status:   {dict(stuck) or 'none'}")
    print(f"duplicated items:   {items or 'none'}")
    print(f"deposits by files:  {dict(sorted(files.items()))} (files: deposits)")
    twice = sorted(title for title, n in titles.items() if n > 1)
    explain |= {int(title.rsplit(" ", 1)[1]) for title in twice}
    print(f"drafts made twice:  {len(twice)}{f' ({twice})' if twice else ''}")
    print(f"letters twice:      {letters_twice or 'none'} (rows per deposit and kind)")
    print(f"letters sent twice: {sent_twice or 'none'} (.eml files per deposit and kind)")
    print(f"dead-lettered:      {dead or 'none'}")
    print(f"event backlog:      {backlog or 'drained'}")
    print(f"faults:             {dict(by_kind)}")
    if recoveries:
        worst = max(faults, key=lambda f: f.recovered_after or 0)
        print(
            f"longest recovery:   {max(recoveries):.1f} s ({worst.kind} {worst.target}); "
            f"median {sorted(recoveries)[len(recoveries) // 2]:.1f} s"
        )
    if unrecovered:
        print(f"NOT recovered:      {[f'{f.kind} {f.target}' for f in unrecovered]}")
    if progress:
        print(f"longest until the next archived deposit after a fault: {max(progress):.1f} s")
    took.sort(key=lambda entry: entry[0], reverse=True)
    for seconds, number, history in took[:3]:
        steps = ", ".join(f"{row['at'][11:19]} {row['to_status']}" for row in history)
        print(f"slow: deposit {number}, {seconds:.0f} s from submitted to final: {steps}")
    print(
        f"client:             {tally.retries} requests sent again, {tally.approvals} approvals; "
        f"fresh keys for abandoned ones: {dict(tally.fresh_keys) or 'none'}"
    )
    print(f"server errors:      {dict(tally.server_errors) or 'none'}")
    if tally.failures:
        print(f"client failures:    {tally.failures[:10]}")
    for number in sorted(explain):
        print(f"what deposit {number}'s requests met: {tally.trails.get(number)}")
    bad = (
        stuck
        or items
        or letters_twice
        or sent_twice
        or dead
        or unrecovered
        or max(recoveries, default=0) >= RECOVERY_TARGET
        or tally.failures
        or any(n > 1 for n in titles.values())
        or set(files) - {1}
    )
    return 1 if bad else 0


def time_in_pipeline(deposit: dict) -> float:
    """Seconds from the last submit to the last change, by the server's history rows."""
    history = deposit["history"]
    submitted = [row["at"] for row in history if row["to_status"] == "submitted"]
    if not submitted:
        return 0.0
    return server_time(history[-1]["at"]) - server_time(submitted[-1])


def all_titles(client: Client) -> list[str]:
    titles, page = [], 1
    while True:
        result = client.call("GET", "/api/v1/deposits", params={"page": page, "per_page": 100})
        body = result.json()
        titles += [summary.get("title") or "" for summary in body["items"]]
        if page * 100 >= body["total"] or not body["items"]:
            return titles
        page += 1


def duplicates_in_databases(system: LodgeSystem):
    """Items per deposit beyond one; letter rows per deposit and kind beyond one per
    recipient; and .eml files sent beyond the letter rows that record them."""
    items = dict(
        rows(
            system.database_urls["inventory"],
            "SELECT deposit_id, count(*) FROM items GROUP BY deposit_id HAVING count(*) > 1",
        )
    )
    rows_twice = {
        f"{deposit} {kind}": n
        for deposit, kind, n in rows(
            system.database_urls["letters"],
            "SELECT deposit_id, letter_type, count(*) FROM letters WHERE NOT is_digest "
            "GROUP BY deposit_id, letter_type, recipient HAVING count(*) > 1",
        )
    }
    letters = rows(
        system.database_urls["letters"],
        "SELECT message_id, recipient, subject, deposit_id, letter_type FROM letters",
    )
    recorded = {message_id for message_id, *_ in letters if message_id}
    about = {
        (recipient, subject): f"{deposit} {kind}"
        for _, recipient, subject, deposit, kind in letters
    }
    sent_twice: dict[str, int] = defaultdict(int)
    for path in system.mail_dir.glob("*.eml") if system.mail_dir.exists() else ():
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if message["Message-ID"] in recorded:
            continue
        recipient = message["To"].addresses[0].addr_spec
        sent_twice[about.get((recipient, str(message["Subject"])), "unknown")] += 1
    return items, rows_twice, dict(sent_twice)


if __name__ == "__main__":
    sys.exit(main())
