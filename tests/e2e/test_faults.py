"""Faults at the edges of a running Lodge: the broker drops the gateway's connections (or
every process's) while deposits are made, and messages that cannot be decoded land on a
service's queue."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange

from gateway.rpc import CONNECTION_NAME
from tests.e2e.test_idempotent_requests import create, titles_of
from tests.e2e.test_lifecycles import make_archived_work, unique_title
from tests.support.system import close_broker_connections, poll_until


@pytest.mark.parametrize(
    "dropped", [CONNECTION_NAME, None], ids=["the gateway's", "every process's"]
)
def test_deposits_made_while_the_broker_drops_connections_each_exist_once(lodge_system, dropped):
    """The broker keeps closing the gateway's connections (or every connection: services'
    requests in flight are delivered again) while a client makes deposits, sending each
    again with its key whenever Lodge answers 503: never a 500, none twice."""
    # a request whose publish broke waits for its reply up to the RPC timeout (30 s)
    student = lodge_system.client("student", timeout=90)
    stop, closed, answers = threading.Event(), [], []

    def drop_connections():
        while not stop.is_set():
            closed.append(
                close_broker_connections(
                    lodge_system.vhost, dropped, "test: the broker drops connections"
                )
            )
            stop.wait(0.05)

    dropper = threading.Thread(target=drop_connections)
    dropper.start()
    titles, deadline = [], time.monotonic() + 120
    try:
        while sum(closed) < 6 and time.monotonic() < deadline:
            titles.append(unique_title("broker drops"))
            key = uuid.uuid4().hex
            for _ in range(5):
                answers.append(create(student, key, titles[-1]).status_code)
                if answers[-1] != 503:
                    break
    finally:
        stop.set()
        dropper.join()
    assert sum(closed) >= 6, closed
    assert set(answers) <= {201, 503} and answers.count(201) == len(titles), answers
    made = [title for title in titles_of(student) if title in set(titles)]
    assert sorted(made) == sorted(titles)


def dead_letters(lodge_system, service_name: str, marker: str) -> list[dict]:
    """The service's parked dead letters whose payload holds `marker`, as admins see them."""
    admin = lodge_system.client("admin")
    page = admin.get(f"/api/v1/staff/dead-letters/{service_name}", params={"per_page": 100})
    return [
        admin.get(f"/api/v1/staff/dead-letters/{service_name}/{letter['id']}").json()
        for letter in page.json()["items"]
        if marker in letter["preview"]
    ]


def test_messages_that_cannot_be_decoded_are_dead_lettered_and_deposits_still_flow(lodge_system):
    marker = uuid.uuid4().hex.encode()
    publisher = Publisher(lodge_system.amqp_uri)
    for body, content_type in (
        (b'{"deposit_id": "' + marker, "application/json"),
        (b"deposit_id=" + marker, "text/plain"),
    ):
        publisher.publish(
            body,
            exchange=get_event_exchange("intake"),
            routing_key="deposit_submitted",
            serializer=None,
            content_type=content_type,
            content_encoding="binary",
        )
    found = poll_until(
        lambda: (
            len(letters := dead_letters(lodge_system, "validation", marker.decode())) == 2
            and letters
        ),
        timeout=30,
    )
    reasons = sorted(letter["reason"] for letter in found)
    assert "cannot be decoded as application/json" in reasons[0]
    assert "cannot be decoded as text/plain" in reasons[1]
    assert {letter["content_type"] for letter in found} == {"application/json", "text/plain"}
    # validation kept consuming: the next deposit is checked and archived
    make_archived_work(lodge_system, lodge_system.client("student"), "after undecodable")
