"""An RPC call that wrote is applied once: delivered again (its ack was lost with the
service's broker connection) it answers its first reply without running; the same call
key from the gateway on another request (a client's retry with its Idempotency-Key) does
too; a different call runs anew."""

import json
import threading
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import delete, func, select

from gateway.auth import identity
from gateway.http.idempotency import HEADER
from gateway.models import IdempotentRequest
from kernel.contracts.rpc import CALL_KEY_HEADER
from kernel.platform.db import CALL_PREFIX, Database, ProcessedEvent
from kernel.platform.dependencies import Store
from services.intake.models import Deposit
from services.intake.service import IntakeService
from tests.gateway.conftest import PASSWORD, page_csrf, sign_in
from tests.services.conftest import STUDENT, THESIS_METADATA
from tests.support.system import close_consumer_connections, poll_until

CREATE = {"actor": STUDENT, "profile_id": "thesis", "metadata": THESIS_METADATA}


class HeldStore(Store):
    """Intake's store, counting the calls its workers make and holding the first call
    after its writes committed, before nameko replies and acks, until released."""

    def setup(self):
        super().setup()
        self.calls: list[str | None] = []
        self.committed = 0
        self.held = threading.Event()
        self.release = threading.Event()

    def tracking_writes(self):
        self.calls.append(self.database._local.call)
        return super().tracking_writes()

    def finish_call(self, call, reply):
        super().finish_call(call, reply)
        self.committed += 1
        if self.committed == 1:
            self.held.set()
            self.release.wait(30)


class HeldIntake(IntakeService):
    store = HeldStore()


def send(amqp_uri: str, replies: Queue, correlation_id: str, headers: dict | None = None):
    """An intake.create_deposit request, as nameko's client sends one."""
    with Connection(amqp_uri) as connection:
        connection.Producer().publish(
            {"args": [], "kwargs": CREATE},
            exchange=Exchange("nameko-rpc", type="topic", durable=True),
            routing_key="intake.create_deposit",
            reply_to=replies.name,
            correlation_id=correlation_id,
            headers=headers or {},
            serializer="json",
            declare=[replies],
        )


def take_replies(amqp_uri: str, replies: Queue, wanted: set[str]) -> dict[str, list]:
    """The replies on `replies` by correlation id, once those `wanted` have come."""
    taken: dict[str, list] = {}
    with Connection(amqp_uri) as connection:
        queue = connection.SimpleQueue(replies)
        try:

            def one_more():
                message = queue.get(block=True, timeout=15)
                message.ack()
                taken.setdefault(message.properties["correlation_id"], []).append(
                    json.loads(message.body)["result"]
                )
                return wanted <= taken.keys()

            poll_until(one_more, timeout=30, description=f"replies to {sorted(wanted)}")
        finally:
            queue.close()
    return taken


def deposits_in(url: str) -> int:
    database = Database(url, "intake")
    try:
        with database.reading() as session:
            return session.scalar(select(func.count()).select_from(Deposit))
    finally:
        database.dispose()


def reply_queue(amqp_uri: str) -> Queue:
    name = f"test-replies-{uuid.uuid4().hex}"
    queue = Queue(
        name, exchange=Exchange("nameko-rpc", type="topic", durable=True), routing_key=name
    )
    with Connection(amqp_uri) as connection:
        queue.bind(connection).declare()
    return queue


def test_a_write_call_delivered_again_after_its_ack_was_lost_runs_once(
    container_factory, broker, intake_db
):
    container = container_factory(HeldIntake, broker)
    container.start()
    store = next(dep for dep in container.dependencies if dep.attr_name == "store")
    uri = broker["AMQP_URI"]
    replies = reply_queue(uri)

    send(uri, replies, "first")
    poll_until(store.held.is_set, description="the first call committed")
    # the service's connection goes, and with it the unacked request: it comes back
    poll_until(
        lambda: close_consumer_connections(uri, "rpc-intake", "test: the ack is lost"),
        description="the broker closed the service's connection",
    )
    # delivered again while the first worker still waits to reply and ack
    again = take_replies(uri, replies, {"first"})["first"][0]
    store.release.set()

    assert len(store.calls) == 2 and store.calls[0] == store.calls[1]
    assert store.committed == 1  # the second delivery answered the stored reply
    assert deposits_in(intake_db) == 1
    database = Database(intake_db, "intake")
    try:
        with database.reading() as session:
            assert again["id"] == session.scalars(select(Deposit.id)).one()
    finally:
        database.dispose()

    send(uri, replies, "second")  # another call: a new draft
    answers = take_replies(uri, replies, {"second"})
    assert answers["second"][0]["id"] != again["id"]
    assert deposits_in(intake_db) == 2
    assert store.committed == 2


def test_one_call_key_on_two_requests_is_applied_once_and_a_hostile_key_is_ignored(
    container_factory, broker, intake_db
):
    container_factory(IntakeService, broker).start()
    uri = broker["AMQP_URI"]
    replies = reply_queue(uri)
    keyed = {CALL_KEY_HEADER: "gateway-key-1"}

    send(uri, replies, "retry-1", keyed)
    send(uri, replies, "retry-2", keyed)  # the client's retry on another gateway worker
    send(uri, replies, "other-key", {CALL_KEY_HEADER: "gateway-key-2"})
    # keys of the wrong type or too long: the request's correlation id serves instead;
    # control characters are only hashed
    send(uri, replies, "number-key", {CALL_KEY_HEADER: 7})
    send(uri, replies, "long-key", {CALL_KEY_HEADER: "k" * 10_000})
    send(uri, replies, "control-key", {CALL_KEY_HEADER: "\x00\x1b[2J"})
    answers = take_replies(
        uri, replies, {"retry-1", "retry-2", "other-key", "number-key", "long-key", "control-key"}
    )

    assert answers["retry-1"] == answers["retry-2"]
    ids = {answers[name][0]["id"] for name in answers}
    assert len(ids) == 5
    assert deposits_in(intake_db) == 5
    database = Database(intake_db, "intake")
    try:
        with database.reading() as session:
            calls = select(func.count()).where(ProcessedEvent.key.startswith(CALL_PREFIX))
            assert session.scalar(calls) == 5
    finally:
        database.dispose()


@pytest.fixture
def gateway(migrated_pg):
    """The gateway, on its own PostgreSQL database, calling this test's services."""
    migrated_pg("gateway")
    from gateway.app import create_app

    app = create_app({"TESTING": True, "SESSION_COOKIE_SECURE": False})
    with app.extensions["lodge.database"].unit_of_work() as uow:
        identity.create_user(
            uow.session, "pat", "Pat", "pat@x.edu", PASSWORD, ["student"], ["patron"]
        )
    yield app
    app.extensions["lodge.rpc"].close()
    app.extensions["lodge.database"].engine.dispose()


def test_a_retry_with_the_same_idempotency_key_makes_no_second_draft_though_its_answer_was_lost(
    container_factory, broker, intake_db, gateway
):
    """The client sends a request again with its key after the gateway lost the first
    answer (its worker died before keeping it): the call's key, made from the key and
    the caller, is the same, so intake answers the draft it made the first time."""
    container_factory(IntakeService, broker).start()
    client = gateway.test_client()
    assert sign_in(client, "pat").status_code == 302
    headers = {"X-CSRFToken": page_csrf(client, "/account/tokens"), HEADER: "draft-1"}
    body = {"profile_id": "thesis", "metadata": THESIS_METADATA}

    first = client.post("/api/v1/deposits", json=body, headers=headers)
    assert first.status_code == 201, first.get_json()
    with gateway.extensions["lodge.database"].unit_of_work() as uow:  # the answer is lost
        uow.session.execute(delete(IdempotentRequest))
    again = client.post("/api/v1/deposits", json=body, headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["id"] == first.get_json()["id"]
    assert deposits_in(intake_db) == 1

    other = client.post("/api/v1/deposits", json=body, headers={**headers, HEADER: "draft-2"})
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    assert deposits_in(intake_db) == 2
