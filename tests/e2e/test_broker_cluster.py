"""A Lodge on a three-node RabbitMQ cluster keeps every deposit when a node stops.

Every process is given all three nodes (`LODGE_AMQP_URI` in kombu's failover form) and so
connects to the first; that node also holds most queue leaders, as the processes declared
them there. It is stopped while deposits flow. Afterwards every deposit exists once and is
archived, with exactly one item, exactly one letter of each kind in the mail folder, and
nothing dead-lettered; a call from service to service still answers.

`through_a_stop` is the scenario; bench/cluster.py runs it with more deposits and prints
its figures.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser

import pytest
import sqlalchemy

from tests.e2e.test_idempotent_requests import titles_of
from tests.e2e.test_lifecycles import letter_subject, pdf_bytes, unique_title, work_metadata
from tests.e2e.test_profiles_api import body as profile
from tests.support.cluster import RabbitCluster
from tests.support.system import LodgeClient, LodgeSystem, expect, poll_until

DEPOSITS = 10
STOP_AFTER = 4  # deposits submitted before the node stops
# seconds a request or deposit may take around the stop (a reply lost with the node waits
# out the RPC timeout)
PATIENCE = 120
LETTERS = ("deposit_submitted", "deposit_archived")


@dataclass
class Outcome:
    """What became of the deposits made through a node's stop."""

    stopped: str  # the node
    leaders_on_stopped: int  # queue leaders it held
    deposits: dict[str, str]  # title → deposit id
    retried: int = 0  # requests answered 503 and sent again (same Idempotency-Key)
    failures: list[BaseException] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # phase → how long it took
    made: collections.Counter = field(default_factory=collections.Counter)  # title → deposits
    unarchived: list[str] = field(default_factory=list)  # deposit ids
    items: collections.Counter = field(default_factory=collections.Counter)  # deposit id → items
    letters: dict[str, int] = field(default_factory=dict)  # wanted subject → letters sent
    dead_letters: dict[str, int] = field(default_factory=dict)  # queue → messages
    profile_status: int | None = None  # a call from service to service after the stop


class Requests:
    """Sends a request until it is answered other than 503 (the gateway lost its node: the
    same request again, with the same Idempotency-Key, is answered once); counts the 503s."""

    def __init__(self) -> None:
        self.retried = 0
        self._lock = threading.Lock()

    def answered(self, send, what: str):
        def once():
            response = send()
            if response.status_code != 503:
                return response
            with self._lock:
                self.retried += 1
            return None

        return poll_until(
            once, timeout=PATIENCE, interval=0.5, description=f"{what} answered other than 503"
        )

    def deposit(self, student: LodgeClient, title: str) -> str:
        key = uuid.uuid4().hex
        deposit = expect(
            self.answered(
                lambda: student.post(
                    "/api/v1/deposits",
                    headers={"Idempotency-Key": key},
                    json={"profile_id": "open-works", "metadata": work_metadata(title)},
                ),
                f"creating {title}",
            ),
            201,
        )
        path = f"/api/v1/deposits/{deposit['id']}"
        key = uuid.uuid4().hex
        expect(
            self.answered(
                lambda: student.post(
                    f"{path}/files",
                    params={"filename": "work.pdf"},
                    data=pdf_bytes(title),
                    headers={"Content-Type": "application/octet-stream", "Idempotency-Key": key},
                ),
                f"uploading to {title}",
            ),
            201,
        )
        expect(
            self.answered(lambda: student.patch(path, json={"accept_terms": True}), "terms"),
            200,
        )
        key = uuid.uuid4().hex
        expect(
            self.answered(
                lambda: student.post(f"{path}/actions/submit", headers={"Idempotency-Key": key}),
                f"submitting {title}",
            ),
            200,
        )
        return deposit["id"]


def mail_subjects(system: LodgeSystem) -> collections.Counter:
    parser = BytesParser(policy=policy.default)
    return collections.Counter(
        parser.parsebytes(path.read_bytes())["Subject"]
        for path in sorted(system.mail_dir.glob("*.eml"))
    )


def dead_letters(system: LodgeSystem) -> dict[str, int]:
    """Dead letters each service parked (staff API), and any still in their queues."""
    counts = expect(system.client("admin").get("/api/v1/staff/dead-letters"), 200)["services"]
    found = {service: sum(states.values()) for service, states in counts.items()}
    for name, queue in system.queues().items():
        if name.startswith("lodge.dead-letter."):
            found[name] = queue.get("messages", 0)
    return {where: count for where, count in found.items() if count}


def items_per_deposit(system: LodgeSystem) -> collections.Counter:
    engine = sqlalchemy.create_engine(system.database_urls["inventory"])
    try:
        with engine.connect() as connection:
            query = sqlalchemy.text("SELECT deposit_id FROM items")
            return collections.Counter(connection.execute(query).scalars())
    finally:
        engine.dispose()


def through_a_stop(
    cluster: RabbitCluster, system: LodgeSystem, count: int, stop_after: int
) -> Outcome:
    """`count` deposits, one after another; the node every process is connected to stops
    once `stop_after` are submitted. Waits for each to be archived (or PATIENCE to pass)."""
    stopped = cluster.nodes[0]  # first in every process's list
    leaders = collections.Counter(cluster.queue_leaders(system.vhost).values())
    outcome = Outcome(
        stopped.name,
        leaders[stopped.name],
        {unique_title(f"cluster {n}"): "" for n in range(count)},
    )
    student = system.client("student", timeout=90)
    sender = Requests()
    submitted = threading.Semaphore(0)

    def make_deposits():
        try:
            for title in outcome.deposits:
                outcome.deposits[title] = sender.deposit(student, title)
                submitted.release()
        except BaseException as err:  # noqa: BLE001 - the outcome reports it
            outcome.failures.append(err)
        finally:
            for _ in outcome.deposits:
                submitted.release()

    started = time.monotonic()
    maker = threading.Thread(target=make_deposits)
    maker.start()
    for _ in range(stop_after):
        submitted.acquire()
    stopping = time.monotonic()
    cluster.stop_node(stopped)
    outcome.seconds["stopping the node"] = time.monotonic() - stopping
    maker.join()
    outcome.seconds["making the deposits"] = time.monotonic() - started

    # gateway → intake → inventory (intake's reply queue was on the stopped node)
    profile_id, key = f"cluster-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    outcome.profile_status = sender.answered(
        lambda: system.client("manager").post(
            "/api/v1/profiles", headers={"Idempotency-Key": key}, json=profile(profile_id)
        ),
        "creating a profile",
    ).status_code
    outcome.retried = sender.retried

    waiting = time.monotonic()
    for deposit_id in filter(None, outcome.deposits.values()):
        try:
            system.wait_for_status(student, deposit_id, "archived", timeout=PATIENCE)
        except AssertionError:
            outcome.unarchived.append(deposit_id)
    outcome.seconds["until the last was archived"] = time.monotonic() - waiting

    made = collections.Counter(titles_of(student))
    outcome.made = collections.Counter({title: made[title] for title in outcome.deposits})
    items = items_per_deposit(system)
    outcome.items = collections.Counter({d: items[d] for d in outcome.deposits.values() if d})
    wanted = [letter_subject(kind, title=title) for title in outcome.deposits for kind in LETTERS]
    with contextlib.suppress(AssertionError):  # what is missing shows in the outcome
        poll_until(
            lambda: all(mail_subjects(system)[subject] for subject in wanted),
            timeout=PATIENCE,
            description="every letter sent",
        )
    seen = mail_subjects(system)
    outcome.letters = {subject: seen[subject] for subject in wanted}
    outcome.dead_letters = dead_letters(system)
    return outcome


@pytest.fixture(scope="module")
def cluster():
    with RabbitCluster() as started:
        yield started


@pytest.fixture(scope="module")
def lodge_on_cluster(cluster):
    with LodgeSystem("postgresql", label="cluster", cluster=cluster) as system:
        yield system


def test_deposits_survive_a_stopped_node_each_archived_once(cluster, lodge_on_cluster):
    outcome = through_a_stop(cluster, lodge_on_cluster, DEPOSITS, STOP_AFTER)
    assert not outcome.failures, outcome.failures
    assert outcome.leaders_on_stopped >= 1  # the stop took queue leaders with it
    assert outcome.profile_status == 201
    assert outcome.unarchived == []
    assert outcome.made == dict.fromkeys(outcome.deposits, 1)
    assert outcome.items == dict.fromkeys(outcome.deposits.values(), 1)
    assert set(outcome.letters.values()) == {1}, outcome.letters
    assert outcome.dead_letters == {}
