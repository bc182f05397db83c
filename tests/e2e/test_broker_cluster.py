"""A Lodge on a three-node RabbitMQ cluster keeps every deposit when a node stops.

Every process is given all three nodes (`LODGE_AMQP_URI` in kombu's failover form) and so
connects to the first; that node also holds the queues' leaders the processes declared.
It is stopped while deposits flow. Afterwards every deposit is archived, with exactly one
item, exactly one letter of each kind in the mail folder, and nothing dead-lettered.
"""

from __future__ import annotations

import collections
import threading
import uuid
from email import policy
from email.parser import BytesParser

import pytest
import sqlalchemy

from tests.e2e.test_idempotent_requests import titles_of
from tests.e2e.test_lifecycles import letter_subject, pdf_bytes, unique_title, work_metadata
from tests.e2e.test_profiles_api import body as profile
from tests.support.cluster import RabbitCluster
from tests.support.system import LodgeClient, LodgeSystem, expect, poll_until

DEPOSITS = 20
STOP_AFTER = 6  # deposits submitted before the node stops
PATIENCE = 120  # seconds a deposit may take around the failover (a reply lost with the node
# waits out the RPC timeout)


@pytest.fixture(scope="module")
def cluster():
    with RabbitCluster() as started:
        yield started


@pytest.fixture(scope="module")
def lodge_on_cluster(cluster):
    with LodgeSystem("postgresql", label="cluster", cluster=cluster) as system:
        yield system


def answered(send, what: str):
    """`send()` until it is answered other than 503 (the gateway lost its node: the same
    request again, with the same Idempotency-Key, is answered once); that answer."""
    return poll_until(
        lambda: (response := send()).status_code != 503 and response,
        timeout=PATIENCE,
        interval=0.5,
        description=f"{what} answered other than 503",
    )


def deposit_one(student: LodgeClient, title: str) -> str:
    key = uuid.uuid4().hex
    deposit = expect(
        answered(
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
        answered(
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
        answered(lambda: student.patch(path, json={"accept_terms": True}), "accepting terms"),
        200,
    )
    key = uuid.uuid4().hex
    expect(
        answered(
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
    return {
        name: queue.get("messages", 0)
        for name, queue in system.queues().items()
        if name.startswith("lodge.dead-letter.") and queue.get("messages", 0)
    }


def test_deposits_survive_a_stopped_node_each_archived_once(cluster, lodge_on_cluster):
    system = lodge_on_cluster
    connected = cluster.nodes[0]  # first in every process's list
    leaders = collections.Counter(cluster.queue_leaders(system.vhost).values())
    assert leaders.most_common(1)[0][0] == connected.name, leaders

    student = system.client("student", timeout=90)
    titles = {unique_title(f"cluster {n}"): "" for n in range(DEPOSITS)}
    submitted = threading.Semaphore(0)
    failures: list[BaseException] = []

    def make_deposits():
        try:
            for title in titles:
                titles[title] = deposit_one(student, title)
                submitted.release()
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            failures.append(err)
            for _ in titles:
                submitted.release()

    maker = threading.Thread(target=make_deposits)
    maker.start()
    for _ in range(STOP_AFTER):
        submitted.acquire()
    cluster.stop_node(connected)
    maker.join()
    assert not failures, failures

    # a call from service to service after the stop: the gateway → intake → inventory
    profile_id, key = f"cluster-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    expect(
        answered(
            lambda: system.client("manager").post(
                "/api/v1/profiles", headers={"Idempotency-Key": key}, json=profile(profile_id)
            ),
            "creating a profile",
        ),
        201,
    )

    for deposit_id in titles.values():
        system.wait_for_status(student, deposit_id, "archived", timeout=PATIENCE)

    made = collections.Counter(titles_of(student))
    assert {title: made[title] for title in titles} == dict.fromkeys(titles, 1)

    engine = sqlalchemy.create_engine(system.database_urls["inventory"])
    try:
        with engine.connect() as connection:
            items = collections.Counter(
                connection.execute(sqlalchemy.text("SELECT deposit_id FROM items")).scalars()
            )
    finally:
        engine.dispose()
    assert {deposit_id: items[deposit_id] for deposit_id in titles.values()} == dict.fromkeys(
        titles.values(), 1
    )

    wanted = {
        letter_subject(kind, title=title): 1
        for title in titles
        for kind in ("deposit_submitted", "deposit_archived")
    }

    def every_letter_sent():
        seen = mail_subjects(system)
        return all(seen[subject] for subject in wanted) and seen

    seen = poll_until(every_letter_sent, timeout=PATIENCE, description="every letter sent")
    assert {subject: seen[subject] for subject in wanted} == wanted
    assert dead_letters(system) == {}
