"""SIGTERM under load, as Kubernetes sends it: each service in turn while deposits flow
through it, and the gateway in the middle of an upload. Every process exits 0 (a process
still busy when LODGE_SHUTDOWN_GRACE_SECONDS end is killed and exits 1), and nothing is
lost, dead-lettered or handled twice."""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
from kombu import Connection

from tests.e2e.test_lifecycles import (
    STUDENT_EMAIL,
    letter_subject,
    letters_to,
    pdf_bytes,
    unique_title,
    work_metadata,
)
from tests.support.system import REPO_ROOT, LodgeStartError, LodgeSystem, poll_until

SERVICES = ("intake", "validation", "approval", "letters", "inventory")
GRACE = 30
BATCH = 6


class LodgeInPieces(LodgeSystem):
    """A Lodge whose seven processes are started and stopped one by one, as Kubernetes runs
    them (`lodge run` stops them all as soon as one exits)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.processes: dict[str, subprocess.Popen] = {}

    def _launch(self) -> None:
        self._log_handle = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed by stop()
        self.lodge_command("migrate", "--seed")
        for name in (*SERVICES, "gateway", "inbox"):
            self.start_process(name)

    def start_process(self, name: str) -> None:
        self.processes[name] = self.spawn(name)

    def spawn(self, name: str, **settings: str) -> subprocess.Popen:
        """`lodge gateway`, `lodge inbox` or `lodge service NAME`, with these LODGE_ settings
        changed."""
        command = [name] if name in ("gateway", "inbox") else ["service", name]
        return subprocess.Popen(
            [self.python, "-m", "lodge", *command],
            cwd=REPO_ROOT,
            env={**self.env, **settings},
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    def _wait_until_ready(self) -> None:
        poll_until(self.ready, timeout=self.start_timeout, interval=0.2, description="Lodge ready")

    def ready(self) -> bool:
        """True once the gateway is ready and every service consumes its queues."""
        gone = [name for name, process in self.processes.items() if process.poll() is not None]
        if gone:
            raise LodgeStartError(f"{gone} exited.\n--- log tail ---\n{self.log_tail()}")
        return self.readiness_problem() is None

    def terminate(self, name: str) -> int:
        """SIGTERM one process; its exit code (waiting past the grace period, never forever)."""
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=GRACE + 30)

    def _stop_processes(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.leftovers.append(f"{name} (pid {process.pid}) ignored SIGTERM")
                process.kill()
                process.wait(timeout=10)

    def queue_state(self, name: str) -> tuple[int, int]:
        """(messages ready, consumers) of a queue, straight from the broker."""
        with Connection(self.amqp_uri) as connection:
            _, messages, consumers = connection.default_channel.queue_declare(name, passive=True)
            return messages, consumers

    def queues_of(self, service: str) -> list[str]:
        return [
            name
            for name in self.queues()
            if name == f"rpc-{service}"
            or (name.startswith("evt-") and name.rpartition("--")[2].startswith(f"{service}."))
        ]

    def consuming(self, service: str) -> bool:
        return all(
            self.queue_state(name)[1] >= 1
            for name in self.queues_of(service)
            if ".retry." not in name
        )


@pytest.fixture(scope="module")
def lodge():
    system = LodgeInPieces(
        label="drain",
        extra_env={
            "LODGE_SHUTDOWN_GRACE_SECONDS": str(GRACE),
            # workers run out, so some messages wait for one when a service stops
            "LODGE_MAX_WORKERS": "2",
        },
    )
    system.start()
    yield system
    system.stop()


def submit_open_work(student, title: str) -> str:
    """An open work: approved automatically, so it passes through every service."""
    deposit = student.create_deposit("open-works", work_metadata(title))
    student.upload(deposit["id"], "work.pdf", pdf_bytes(title))
    student.submit(deposit["id"])
    return deposit["id"]


def test_each_service_stops_under_load_and_nothing_is_lost_or_repeated(lodge):
    student = lodge.client("student")
    deposits: dict[str, str] = {}
    for service in SERVICES:
        titles = [unique_title(f"stopping {service}") for _ in range(BATCH)]
        with ThreadPoolExecutor(3) as pool:
            ids = list(pool.map(lambda title: submit_open_work(student, title), titles))
        deposits.update(zip(ids, titles, strict=True))
        # the batch is still flowing through the services
        assert lodge.terminate(service) == 0, f"{service} did not stop cleanly"
        lodge.start_process(service)
        poll_until(functools.partial(lodge.consuming, service), timeout=120, description="back")

    archived = [
        lodge.wait_for_status(student, deposit_id, "archived", timeout=180)
        for deposit_id in deposits
    ]
    assert len({deposit["item_id"] for deposit in archived}) == len(deposits)
    for title in deposits.values():
        for letter in ("deposit_submitted", "deposit_archived"):
            subject = letter_subject(letter, title=title)

            def sent(subject=subject):
                return [
                    m for m in letters_to(lodge.mail_dir, STUDENT_EMAIL) if m["Subject"] == subject
                ]

            assert len(poll_until(sent, timeout=120, description=subject)) == 1
    log = lodge.log_text()
    assert "was handled before" not in log, "an event was delivered again after its effect"
    assert "did not stop within" not in log
    for service in SERVICES:
        assert log.count(f"lodge {service} service stopped") == 1
    assert lodge.dead_letters() == dict.fromkeys(SERVICES, 0)
    for name in lodge.queues():
        if name.startswith(("evt-", "rpc-")):
            assert lodge.queue_state(name)[0] == 0, f"{name} still holds messages"


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_the_stopping_gateway_finishes_an_upload_and_takes_no_new_connection(lodge):
    student = lodge.client("student")
    deposit = student.create_deposit("open-works", work_metadata(unique_title("slow upload")))
    content = pdf_bytes("slow upload") * 2000
    upload = http.client.HTTPConnection("127.0.0.1", lodge.port, timeout=60)
    upload.putrequest("POST", f"/api/v1/deposits/{deposit['id']}/files?filename=slow.pdf")
    for header, value in (
        ("Authorization", student.headers["Authorization"]),
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(len(content))),
        ("Accept", "application/json"),
    ):
        upload.putheader(header, value)
    upload.endheaders()
    half = len(content) // 2
    upload.send(content[:half])

    gateway = lodge.processes["gateway"]
    gateway.send_signal(signal.SIGTERM)
    poll_until(lambda: refused(lodge.port), timeout=30, description="new connections refused")
    assert gateway.poll() is None, "the gateway exited with an upload in flight"
    upload.send(content[half:])
    response = upload.getresponse()
    body = response.read()
    assert response.status == 201, body[:1000]
    uploaded = json.loads(body)
    assert uploaded["sha256"] == hashlib.sha256(content).hexdigest()
    assert gateway.wait(timeout=GRACE + 30) == 0

    lodge.start_process("gateway")
    poll_until(lodge.ready, timeout=120, description="the gateway back")
    files = student.deposit(deposit["id"])["files"]
    assert [(f["id"], f["size"]) for f in files] == [(uploaded["id"], len(content))]


def test_a_service_still_busy_when_its_grace_period_ends_is_killed(lodge):
    """A second intake whose outbox relay waits on a locked table cannot finish its last
    round: after its grace period it is killed and exits 1; its rows wait for the next."""
    extra = lodge.spawn("intake", LODGE_SHUTDOWN_GRACE_SECONDS="2")
    locker = psycopg2.connect(lodge.database_urls["intake"])
    try:
        poll_until(lambda: lodge.queue_state("rpc-intake")[1] == 2, timeout=120)
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
        extra.send_signal(signal.SIGTERM)
        assert extra.wait(timeout=GRACE + 30) == 1
    finally:
        locker.rollback()
        locker.close()
        if extra.poll() is None:
            extra.kill()
    assert "intake did not stop within 2 s; killing it" in lodge.log_text()
    assert lodge.consuming("intake")
