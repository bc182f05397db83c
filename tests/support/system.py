"""A complete Lodge, started as separate processes exactly as an operator starts it.

`LodgeSystem` gives every run its own RabbitMQ virtual host, its own PostgreSQL
databases (or SQLite files), its own data folder and a free TCP port, so it never
shares anything with a developer's `lodge run` on the default vhost and port 8000.
It then runs `python -m lodge run` (migrate, seed, five services and the gateway)
in a session of its own and waits until the gateway answers /readyz and every
service consumes its queues.

No pytest here: the end-to-end tests and the scripts under bench/ both use it.

    with LodgeSystem() as lodge:
        student = lodge.client("student")
        deposit = expect(student.post("/api/v1/deposits", json={...}), 201)
        lodge.wait_for_status(student, deposit["id"], "archived")
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"

SERVICE_NAMES = ("intake", "validation", "approval", "letters", "inventory")
DATABASE_OWNERS = SERVICE_NAMES + ("gateway",)
FINAL_STATUSES = frozenset({"archived", "declined", "withdrawn"})
INBOX_QUEUE = "lodge.inbox.requests"  # campus systems' requests: `lodge inbox` consumes it

PG_ADMIN_DSN = os.environ.get(
    "LODGE_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBIT_API = os.environ.get("LODGE_TEST_RABBIT_API", "http://127.0.0.1:15672/api")
RABBIT_AUTH = ("guest", "guest")
AMQP_HOST = os.environ.get("LODGE_TEST_AMQP_HOST", "127.0.0.1:5672")
# at most this many admin connections at once: the server's are shared with whole Lodges
PG_ADMIN_CONNECTIONS = 6


class LodgeStartError(RuntimeError):
    """Lodge did not become ready; the message ends with the tail of its log."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@functools.lru_cache(maxsize=1)
def rpc_service_names() -> tuple[str, ...]:
    """The services that have RPC entrypoints, so an `rpc-<service>` queue to consume.

    Found by introspection rather than assumed: a service with only event handlers
    and timers (letters, for now) declares no RPC queue at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventlet's deprecation notice, on import
        from lodge.registry import service_class
        from lodge.topology import serves_rpc

    return tuple(name for name in SERVICE_NAMES if serves_rpc(service_class(name)))


@functools.lru_cache(maxsize=1)
def consumed_queue_names() -> tuple[str, ...]:
    """Every queue a running Lodge consumes: the RPC queues, each service's event queues
    (not their retry queues, which have no consumer) and the inbox's; found by the
    introspection `lodge migrate` declares them by."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lodge.registry import service_class
        from lodge.topology import event_queues

    events = [queue.name for name in SERVICE_NAMES for queue in event_queues(service_class(name))]
    return (*(f"rpc-{name}" for name in rpc_service_names()), *events, INBOX_QUEUE)


def consumer_counts(amqp_uri: str, queues: Iterable[str]) -> dict[str, int | None]:
    """The consumers of each queue now, from the broker itself (a passive declare), where
    the management API's figures lag up to its statistics interval; None for a queue not
    declared."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    counts: dict[str, int | None] = {}
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        for name in queues:
            try:
                counts[name] = channel.queue_declare(name, passive=True).consumer_count
            except NotFound:  # the broker closed the channel
                counts[name] = None
                channel = connection.channel()
    return counts


def poll_until(
    condition, timeout: float = 30.0, interval: float = 0.05, description: str = "the condition"
):
    """Call `condition()` until it returns something truthy, and return that; an
    AssertionError naming `description` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{description} did not happen within {timeout:.0f} s")
        time.sleep(interval)


def expect(response: requests.Response, *statuses: int):
    """The JSON body of `response` (or None if it has none) once its status is one of
    `statuses`; otherwise an AssertionError that shows what came back."""
    if response.status_code not in statuses:
        url = response.request.url
        url = url if len(url) <= 300 else url[:300] + f"...({len(url)} characters)"
        raise AssertionError(
            f"{response.request.method} {url} answered "
            f"{response.status_code}, expected {' or '.join(map(str, statuses))}: "
            f"{response.text[:2000]}"
        )
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def pg_admin(sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the PostgreSQL admin connection."""
    import psycopg2

    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def pg_admin_each(statements: Iterable[str]) -> None:
    """Run each statement on an admin connection of its own, several at once: PostgreSQL
    makes a checkpoint for every DROP DATABASE, and drops that wait together share one."""
    with ThreadPoolExecutor(max_workers=PG_ADMIN_CONNECTIONS) as pool:
        for done in [pool.submit(pg_admin, sql) for sql in statements]:
            done.result()


def vhost_of(amqp_uri: str) -> str:
    return amqp_uri.rsplit("/", 1)[1]


def consumers_of(amqp_uri: str, queue: str) -> int:
    """The consumers a channel still holds on `queue`, by the management API (its figures
    lag up to 5 s). A quorum queue's own count also keeps a cancelled consumer until the
    messages it was given are settled."""
    response = requests.get(
        f"{RABBIT_API}/consumers/{quote(vhost_of(amqp_uri), safe='')}", auth=RABBIT_AUTH, timeout=10
    )
    response.raise_for_status()
    return sum(1 for consumer in response.json() if consumer["queue"]["name"] == queue)


def close_consumer_connections(amqp_uri: str, queue: str, reason: str) -> int:
    """Force-close the connections whose channels consume `queue` (once the management API
    lists them); how many."""
    response = requests.get(
        f"{RABBIT_API}/consumers/{quote(vhost_of(amqp_uri), safe='')}", auth=RABBIT_AUTH, timeout=10
    )
    response.raise_for_status()
    names = {
        consumer["channel_details"]["connection_name"]
        for consumer in response.json()
        # the details are an empty list until the broker has them
        if consumer["queue"]["name"] == queue and consumer.get("channel_details")
    }
    for name in names:
        requests.delete(
            f"{RABBIT_API}/connections/{quote(name, safe='')}",
            auth=RABBIT_AUTH,
            headers={"X-Reason": reason},
            timeout=10,
        )
    return len(names)


# a vhost is made and removed on each of a cluster's nodes, and a broker that many Lodges
# share on a loaded machine takes its time: seconds to wait for the management API
VHOST_TIMEOUT = 120


def create_vhost(name: str, api: str = RABBIT_API) -> None:
    """Make the vhost (again while the broker answers 5xx: on a cluster it waits a while
    for the vhost to start on every node and fails the request when one is slow, though
    the vhost goes on starting; making it again is harmless)."""
    vhost = quote(name, safe="")
    deadline = time.monotonic() + VHOST_TIMEOUT
    while True:
        response = requests.put(f"{api}/vhosts/{vhost}", auth=RABBIT_AUTH, timeout=VHOST_TIMEOUT)
        if response.status_code < 500 or time.monotonic() > deadline:
            break
        log.warning("making vhost %s: %s %s; again", name, response.status_code, response.text)
        time.sleep(1)
    if response.status_code >= 400:
        raise requests.HTTPError(f"making vhost {name}: {response.status_code} {response.text}")
    requests.put(
        f"{api}/permissions/{vhost}/guest",
        auth=RABBIT_AUTH,
        timeout=VHOST_TIMEOUT,
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()


def delete_vhost(name: str, api: str = RABBIT_API) -> None:
    response = requests.delete(
        f"{api}/vhosts/{quote(name, safe='')}", auth=RABBIT_AUTH, timeout=VHOST_TIMEOUT
    )
    if response.status_code not in (204, 404):
        response.raise_for_status()


def without_lodge_settings(**settings: str) -> dict[str, str]:
    """This process's environment without its LODGE_ settings, and with these: what a
    Lodge process started from a test or a bench reads, and nothing it inherited."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LODGE_")}
    return {**env, **settings}


def lone_gateway(
    folder: Path, port: int, stderr: int = subprocess.DEVNULL, **settings: str
) -> subprocess.Popen:
    """`lodge gateway` alone (one worker, SQLite in `folder`, no services), with these
    LODGE_ settings added; the caller stops it (and reads `stderr` if it asked for a pipe)."""
    env = without_lodge_settings()
    env.update(
        {
            "LODGE_DATA_DIR": str(folder / "var"),
            "LODGE_SECRET_KEY": "test-" + uuid.uuid4().hex + uuid.uuid4().hex,
            "LODGE_COOKIE_SECURE": "false",
            "LODGE_GATEWAY_BIND": f"127.0.0.1:{port}",
            "LODGE_GATEWAY_WORKERS": "1",
            "XDG_RUNTIME_DIR": str(folder),
            **settings,
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "lodge", "gateway"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def csrf_token(html: str) -> str:
    """The CSRF token a portal page carries in its <meta name="csrf-token">."""
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def signed_in(system: LodgeSystem, username: str) -> requests.Session:
    """A browser-like session signed in through /login with the demo password."""
    session = requests.Session()
    page = session.get(f"{system.base_url}/login", timeout=30)
    response = session.post(
        f"{system.base_url}/login",
        timeout=30,
        allow_redirects=False,
        data={"username": username, "password": "demo", "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302, response.text
    return session


class LodgeClient(requests.Session):
    """A requests session for one user: Bearer token set, paths relative to the gateway.

    `client.get("/api/v1/deposits")` and `client.get(client.api("deposits"))` both work;
    every request gets a default timeout.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        username: str | None = None,
        timeout: float = 30.0,
    ):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.default_timeout = timeout
        self.headers["Accept"] = "application/json"
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def api(self, path: str) -> str:
        return self.url(f"/api/v1/{path.lstrip('/')}")

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, self.url(url), *args, **kwargs)

    # --- thin helpers over the REST API ------------------------------------------

    def create_deposit(self, profile_id: str, metadata: dict | None = None, **extra) -> dict:
        body = {"profile_id": profile_id, "metadata": metadata or {}, **extra}
        return expect(self.post("/api/v1/deposits", json=body), 201)

    def upload(self, deposit_id: str, filename: str, data: bytes) -> dict:
        return expect(
            self.post(
                f"/api/v1/deposits/{deposit_id}/files",
                params={"filename": filename},
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            ),
            201,
        )

    def accept_terms(self, deposit_id: str) -> dict:
        return expect(
            self.patch(f"/api/v1/deposits/{deposit_id}", json={"accept_terms": True}), 200
        )

    def submit(self, deposit_id: str, accept_terms: bool = True) -> dict:
        """Submit, first accepting the profile's terms unless told not to."""
        if accept_terms:
            self.accept_terms(deposit_id)
        return expect(self.post(f"/api/v1/deposits/{deposit_id}/actions/submit"), 200)

    def deposit(self, deposit_id: str) -> dict:
        return expect(self.get(f"/api/v1/deposits/{deposit_id}"), 200)


class LodgeSystem:
    """One complete Lodge in processes of its own. See the module docstring.

    `LodgeSystem.observers` (a test session's, e.g. tests.support.event_interface's capture)
    are told `started(system)` once its vhost exists, before Lodge runs, and
    `stopping(system)` once its processes stopped, before the vhost goes.

    database: "postgresql" (fresh databases per owner, dropped on stop) or "sqlite"
    (files in the data folder). keep_artifacts: copy the log to test-artifacts/ on
    stop; defaults to the LODGE_KEEP_ARTIFACTS environment variable. cluster: a
    tests.support.cluster.RabbitCluster to run on instead of the machine's broker.
    """

    observers: ClassVar[list] = []

    def __init__(
        self,
        database: str = "postgresql",
        *,
        keep_artifacts: bool | None = None,
        label: str = "lodge",
        start_timeout: float | None = None,
        stop_timeout: float = 60.0,
        python: str | None = None,
        extra_env: dict[str, str] | None = None,
        own_broker_accounts: bool = False,
        cluster=None,
    ):
        if database not in ("postgresql", "sqlite"):
            raise ValueError("database must be 'postgresql' or 'sqlite'")
        self.database = database
        self.keep_artifacts = (
            _truthy(os.environ.get("LODGE_KEEP_ARTIFACTS"))
            if keep_artifacts is None
            else keep_artifacts
        )
        self.label = label
        # a loaded machine may need longer: LODGE_TEST_START_TIMEOUT seconds
        self.start_timeout = (
            float(os.environ.get("LODGE_TEST_START_TIMEOUT", "180"))
            if start_timeout is None
            else start_timeout
        )
        self.stop_timeout = stop_timeout
        self.python = python or os.environ.get("LODGE_PYTHON") or sys.executable
        self.extra_env = dict(extra_env or {})
        # every process on a broker account of its own, made by `lodge broker-users --apply`
        self.own_broker_accounts = own_broker_accounts
        self.broker_users: list[str] = []

        self.run_id = uuid.uuid4().hex[:10]
        self.vhost = f"lodge-{label}-{self.run_id}"
        self.cluster = cluster
        self.amqp_uri = (
            cluster.amqp_uri(self.vhost)
            if cluster
            else f"amqp://guest:guest@{AMQP_HOST}/{self.vhost}"
        )
        self.root: Path | None = None
        self.data_dir: Path | None = None
        self.log_path: Path | None = None
        self.port: int | None = None
        self.base_url = ""  # http://127.0.0.1:<port>, once started
        self.database_urls: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.process: subprocess.Popen | None = None
        self.leftovers: list[str] = []
        self.artifact_path: Path | None = None

        self._vhost_created = False
        self._observed = False
        self._databases: list[str] = []
        self._log_handle = None
        self._tokens: dict[str, str] = {}
        self._stopped = False

    # --- lifecycle ----------------------------------------------------------------

    def __enter__(self) -> LodgeSystem:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def database_url(self, owner: str) -> str:
        """Where `owner` keeps its tables: its PostgreSQL database, or SQLite's file under the
        data folder (Lodge's default)."""
        return self.database_urls.get(owner) or f"sqlite:///{self.data_dir / (owner + '.db')}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def start(self) -> LodgeSystem:
        atexit.register(self.stop)
        try:
            self._prepare()
            self._launch()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"lodge-{self.label}-"))
        self.data_dir = self.root / "var"
        self.data_dir.mkdir()
        self.log_path = self.root / "lodge.log"
        self._create_vhost()
        for observer in self.observers:
            observer.started(self)
        self._observed = True
        if self.database == "postgresql":
            self._create_databases()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = without_lodge_settings()
        # gunicorn puts its control socket in $XDG_RUNTIME_DIR, else in ~/.gunicorn/ where
        # every gateway on the machine would take over (and on stop delete) the same one
        runtime_dir = self.root / "run"
        runtime_dir.mkdir(mode=0o700)
        env.update(
            {
                "XDG_RUNTIME_DIR": str(runtime_dir),
                "LODGE_DATA_DIR": str(self.data_dir),
                "LODGE_AMQP_URI": self.amqp_uri,
                "LODGE_BASE_URL": self.base_url,
                "LODGE_GATEWAY_BIND": f"127.0.0.1:{self.port}",
                "LODGE_SECRET_KEY": "e2e-" + uuid.uuid4().hex + uuid.uuid4().hex,
                "LODGE_COOKIE_SECURE": "false",
                "LODGE_SEED_DEMO_ACCOUNTS": "true",
                "LODGE_METRICS_TOKEN": "metrics-" + uuid.uuid4().hex,
                "LODGE_HANDLER_RETRY_DELAY_MS": "100",
                # one test user makes hundreds of drafts and uploads in a session; the tests of
                # these limits set their own
                "LODGE_QUOTA_DRAFTS": "100000",
                "LODGE_QUOTA_UPLOADS": "100000",
                "LODGE_QUOTA_STAGED_BYTES": str(1 << 40),
                "PYTHONUNBUFFERED": "1",
            }
        )
        for owner, url in self.database_urls.items():
            env[f"LODGE_{owner.upper()}_DATABASE_URL"] = url
        if self.own_broker_accounts:
            for process in (*DATABASE_OWNERS, "inbox"):
                user = f"lodge-{process}-{self.run_id}"
                self.broker_users.append(user)
                env[f"LODGE_AMQP_URI_{process.upper()}"] = (
                    f"amqp://{user}:{uuid.uuid4().hex}@{AMQP_HOST}/{self.vhost}"
                )
        env.update(self.extra_env)
        self.env = env
        if self.own_broker_accounts:
            self.lodge_command("broker-users", "--apply")

    def lodge_command(self, *args: str) -> str:
        """Run `python -m lodge ARGS` as an operator would; its output."""
        result = subprocess.run(
            [self.python, "-m", "lodge", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"lodge {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.strip()[-2000:]}"
            )
        return result.stdout

    def _launch(self) -> None:
        self._log_handle = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed by stop()
        self._log_handle.write(
            f"### lodge run: vhost {self.vhost}, {self.base_url}, "
            f"database {self.database}\n".encode()
        )
        self.process = subprocess.Popen(
            [self.python, "-m", "lodge", "run"],
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        problem = "not started"
        while True:
            code = self.process.poll()
            if code is not None:
                raise LodgeStartError(
                    f"`lodge run` exited with {code} before it was ready.\n"
                    f"--- log tail ---\n{self.log_tail()}"
                )
            problem = self.readiness_problem()
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise LodgeStartError(
                    f"Lodge was not ready after {self.start_timeout:.0f} s: {problem}\n"
                    f"--- log tail ---\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def readiness_problem(self) -> str | None:
        """None when the gateway is ready and every service (and the inbox) consumes its
        queues."""
        try:
            response = requests.get(f"{self.base_url}/readyz", timeout=5)
        except requests.RequestException as err:
            return f"/readyz: {type(err).__name__}"
        if response.status_code != 200:
            return f"/readyz answered {response.status_code}: {response.text[:300]}"
        queues = consumed_queue_names()
        try:
            counts = consumer_counts(self.amqp_uri, queues)
        except Exception as err:  # noqa: BLE001 - any broker trouble: not ready yet
            return f"broker: {type(err).__name__}: {err}"
        missing = [name for name, consumers in counts.items() if not consumers]
        if missing:
            return "queues without a consumer: " + ", ".join(sorted(missing))
        return None

    def stop(self) -> None:
        """Stop everything and remove what start() created; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        problems = []
        for step in (
            self._stop_processes,
            self._tell_observers,
            self._delete_vhost,
            self._drop_databases,
            self._keep_artifacts,
            self._remove_files,
        ):
            try:
                step()
            except Exception as err:  # noqa: BLE001 - clean up the rest regardless
                problems.append(f"{step.__name__}: {err!r}")
        if problems:
            print("LodgeSystem.stop: " + "; ".join(problems), file=sys.stderr)

    def _tell_observers(self) -> None:
        if self._observed:
            for observer in self.observers:
                observer.stopping(self)

    def _stop_processes(self) -> None:
        if self.process is None:
            return
        session = self.process.pid  # start_new_session: the run process leads its session
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.leftovers.append(
                    f"`lodge run` (pid {session}) ignored SIGTERM for {self.stop_timeout:.0f} s"
                )
                self.process.kill()
                self.process.wait(timeout=10)
        # `lodge run` gives each child a process group of its own, in its session
        survivors = self._session_members(session)
        if survivors:
            self.leftovers.extend(survivors)
            for line in survivors:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line.split(" ", 1)[0]), signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self._session_members(session) and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.leftovers and self._log_handle is not None:
            self._log_handle.write(
                ("### killed leftovers: " + "; ".join(self.leftovers) + "\n").encode()
            )

    @staticmethod
    def _session_members(session: int) -> list[str]:
        """Live (non-zombie) processes of a session, as 'pid command' lines."""
        return [
            f"{pid} {' '.join(argv)}"
            for pid, _, member_of, argv in _live_processes()
            if member_of == session
        ]

    def processes(self) -> dict[str, int]:
        """The processes `lodge run` supervises, by name ("intake", …, "gateway"): pid."""
        found = {}
        for pid, parent, _, argv in _live_processes():
            if parent == self.process.pid and argv[1:3] == ["-m", "lodge"]:
                found[argv[4] if argv[3] == "service" else argv[3]] = pid
        return found

    def gateway_workers(self) -> list[int]:
        """The gunicorn worker processes of this Lodge's gateway (children of its master)."""
        master = self.processes().get("gateway")
        return [pid for pid, parent, _, _ in _live_processes() if master and parent == master]

    # --- broker and databases ---------------------------------------------------------

    @property
    def rabbit_api(self) -> str:
        """The management API of the broker (of a running node of the cluster)."""
        return self.cluster.api if self.cluster else RABBIT_API

    def _create_vhost(self) -> None:
        # first: a request that timed out on a busy broker may still make it, and stop()
        # deletes it then (a vhost that is not there is no error)
        self._vhost_created = True
        create_vhost(self.vhost, self.rabbit_api)

    def _delete_vhost(self) -> None:
        # a cluster's vhost goes with the cluster; deleting it waits on any node stopped
        if self._vhost_created and self.cluster is None:
            delete_vhost(self.vhost, self.rabbit_api)
        self._vhost_created = False
        while self.broker_users:
            requests.delete(
                f"{self.rabbit_api}/users/{quote(self.broker_users.pop(), safe='')}",
                auth=RABBIT_AUTH,
                timeout=10,
            )

    def queues(self) -> dict[str, dict]:
        """This vhost's queues from the management API: name → {consumers, messages}."""
        response = requests.get(
            f"{self.rabbit_api}/queues/{quote(self.vhost, safe='')}",
            params={"columns": "name,consumers,messages"},
            auth=RABBIT_AUTH,
            timeout=10,
        )
        response.raise_for_status()
        return {q["name"]: q for q in response.json()}

    def dead_letters(self) -> dict[str, int]:
        """Per service, every dead letter it ever had: parked (in any state since) and any
        still waiting in its queue for the service to park it."""
        queues = self.queues()
        counts = expect(self.client("admin").get("/api/v1/staff/dead-letters"), 200)["services"]
        return {
            service: sum(states.values())
            + (queues.get(f"lodge.dead-letter.{service}", {}).get("messages") or 0)
            for service, states in counts.items()
        }

    def broker_connections(self) -> set[str]:
        """The users this vhost's open broker connections signed in as."""
        response = requests.get(
            f"{self.rabbit_api}/vhosts/{quote(self.vhost, safe='')}/connections",
            params={"columns": "user"},
            auth=RABBIT_AUTH,
            timeout=10,
        )
        response.raise_for_status()
        return {connection["user"] for connection in response.json()}

    def _create_databases(self) -> None:
        names = {
            owner: f"lodge_{self.label}_{owner}_{self.run_id}".replace("-", "_")
            for owner in DATABASE_OWNERS
        }
        self._databases += names.values()  # dropped on stop, should any be made
        pg_admin_each(f'CREATE DATABASE "{name}"' for name in names.values())
        for owner, name in names.items():
            self.database_urls[owner] = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"

    def _drop_databases(self) -> None:
        names, self._databases = self._databases, []
        pg_admin_each(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names)

    # --- files --------------------------------------------------------------------------

    def _keep_artifacts(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if self.keep_artifacts and self.log_path is not None and self.log_path.exists():
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.artifact_path = ARTIFACTS_DIR / f"{self.label}-{stamp}-{self.run_id}.log"
            shutil.copyfile(self.log_path, self.artifact_path)

    def _remove_files(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode("utf-8", errors="replace")

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # --- people and polling ---------------------------------------------------------------

    def token(self, username: str) -> str:
        """A new API token for `username`, from `python -m lodge token` as an operator runs it."""
        lines = [
            line.strip()
            for line in self.lodge_command("token", username).splitlines()
            if line.strip()
        ]
        if not lines:
            raise RuntimeError(f"lodge token {username} printed nothing")
        return lines[-1]

    def client(self, username: str | None = None, timeout: float = 30.0) -> LodgeClient:
        """A new session for `username` (anonymous when None); tokens are made once per user."""
        token = None
        if username is not None:
            if username not in self._tokens:
                self._tokens[username] = self.token(username)
            token = self._tokens[username]
        return LodgeClient(self.base_url, token, username, timeout)

    @staticmethod
    def wait_for_status(
        client: LodgeClient,
        deposit_id: str,
        statuses: str | Iterable[str],
        timeout: float = 30.0,
        interval: float = 0.05,
    ) -> dict:
        """Poll GET /api/v1/deposits/{id} until its status is one of `statuses`; the deposit.

        Gives up at once if the deposit reaches a final status that is not wanted."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            response = client.get(f"/api/v1/deposits/{deposit_id}")
            if response.status_code == 200:
                last = response.json()
                if last["status"] in wanted:
                    return last
                if last["status"] in FINAL_STATUSES:
                    raise AssertionError(
                        f"deposit {deposit_id} ended {last['status']}, not "
                        f"{'/'.join(sorted(wanted))}: {_trail(last)}"
                    )
            if time.monotonic() > deadline:
                state = (
                    f"it is {last['status']}: {_trail(last)}"
                    if last
                    else f"last answer {response.status_code}: {response.text[:500]}"
                )
                raise AssertionError(
                    f"deposit {deposit_id} did not reach "
                    f"{'/'.join(sorted(wanted))} within {timeout:.0f} s; {state}"
                )
            time.sleep(interval)


def _live_processes() -> list[tuple[int, int, int, list[str]]]:
    """(pid, parent pid, session, argv) of every live (non-zombie) process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        state, parent, _, session = stat[stat.rfind(")") + 2 :].split()[:4]
        if state != "Z":
            found.append((int(entry.name), int(parent), int(session), argv))
    return found


def _trail(deposit: dict) -> str:
    steps = [
        f"{h['from_status']}→{h['to_status']}"
        + (f" ({h['reason_code']})" if h.get("reason_code") else "")
        for h in deposit.get("history") or []
    ]
    report = deposit.get("validation_report")
    extra = f"; validation passed={report['passed']}" if report else ""
    return ", ".join(steps) + extra


def close_broker_connections(vhost: str, connection_name: str | None, reason: str) -> int:
    """Force-close, through the management API, every connection on `vhost` that named
    itself `connection_name` (the gateway's are "lodge-gateway"), or every one when it is
    None; how many."""
    closed = 0
    listed = requests.get(
        f"{RABBIT_API}/vhosts/{quote(vhost, safe='')}/connections", auth=RABBIT_AUTH, timeout=10
    )
    listed.raise_for_status()
    for connection in listed.json():
        named = (connection.get("client_properties") or {}).get("connection_name")
        if connection_name is None or named == connection_name:
            name = quote(connection["name"], safe="")
            answer = requests.delete(
                f"{RABBIT_API}/connections/{name}",
                auth=RABBIT_AUTH,
                headers={"X-Reason": reason},
                timeout=10,
            )
            if answer.status_code != 404:  # 404: it had gone already
                answer.raise_for_status()
                closed += 1
    return closed
