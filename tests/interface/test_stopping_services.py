"""A stopping service finishes what it took and leaves nothing behind: the messages its
last workers handled are acked once (not delivered again), what reaches its queues after
it stopped consuming waits there, and its outbox is relayed before it exits."""

import eventlet
import pytest
from eventlet.event import Event
from kombu import Connection, Queue
from nameko.amqp.publish import Publisher
from nameko.rpc import get_rpc_exchange
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy import func, select

from kernel.contracts.events import new_event
from kernel.platform.config import get_settings
from kernel.platform.db import OutboxMessage
from kernel.platform.dependencies import Store
from kernel.platform.messaging import handles_event, rpc
from lodge.topology import declare
from tests.support.system import consumers_of, poll_until

EVENT_QUEUE = "evt-intake-deposit_withdrawn--slow.on_withdrawn"
# where Lodge's topology routes intake's deposit_withdrawn (approval handles it)
APPROVAL_QUEUE = "evt-intake-deposit_withdrawn--approval.on_deposit_withdrawn"

started: list[str] = []
release: list[Event] = []


def wait_for_release():
    release[0].wait()


class Slow:
    """Handlers that hold their worker until the test releases them."""

    name = "slow"

    @handles_event("intake", "deposit_withdrawn")
    def on_withdrawn(self, event):
        started.append(event["deposit_id"])
        wait_for_release()

    @rpc
    def hold(self, key):
        started.append(key)
        wait_for_release()
        return key


class LastWords:
    """An intake whose workers emit an event as the service stops."""

    name = "intake"
    store = Store()

    @rpc
    def withdraw(self, deposit_id):
        started.append(deposit_id)
        wait_for_release()
        with self.store.unit_of_work() as uow:
            uow.emit("deposit_withdrawn", withdrawn(deposit_id))
        return deposit_id


def withdrawn(deposit_id):
    return new_event(
        "intake",
        "deposit_withdrawn",
        deposit_id=deposit_id,
        revision=1,
        actor={"id": "u1", "name": "Sam"},
    )


def publish(amqp_uri, payload):
    Publisher(amqp_uri).publish(
        payload, exchange=get_event_exchange("intake"), routing_key="deposit_withdrawn"
    )


def queue_state(amqp_uri: str, name: str) -> tuple[int, int]:
    """(messages ready, consumers) of a queue, straight from the broker."""
    with Connection(amqp_uri) as connection:
        _, messages, consumers = connection.default_channel.queue_declare(name, passive=True)
        return messages, consumers


@pytest.fixture(autouse=True)
def slow_topology(broker):
    declare(broker["AMQP_URI"], [Slow])
    started.clear()
    release[:] = [Event()]


def test_a_stopping_service_finishes_its_running_events_and_returns_the_rest(
    container_factory, broker
):
    uri = broker["AMQP_URI"]
    config = {**broker, "max_workers": 2}
    container = container_factory(Slow, config)
    container.start()
    for number in range(5):
        publish(uri, withdrawn(f"d{number}"))
    # all five delivered: two in workers, three waiting for one
    poll_until(lambda: queue_state(uri, EVENT_QUEUE) == (0, 1) and len(started) == 2)

    stopping = eventlet.spawn(container.stop)
    poll_until(lambda: not consumers_of(uri, EVENT_QUEUE), description="cancelling")
    assert not stopping.dead, "the service stopped before its workers finished"
    publish(uri, withdrawn("late"))
    release[0].send()
    stopping.wait()

    # the two running ones were acked; the three waiting and the late one are queued
    assert sorted(started) == ["d0", "d1"]
    assert queue_state(uri, EVENT_QUEUE) == (4, 0)
    # the next instance handles those four, and none of the first two again
    container_factory(Slow, config).start()
    poll_until(lambda: queue_state(uri, EVENT_QUEUE)[0] == 0 and len(started) == 6)
    assert sorted(started) == ["d0", "d1", "d2", "d3", "d4", "late"]


def test_a_call_in_flight_when_its_service_stops_is_answered_and_not_run_again(
    container_factory, broker
):
    uri = broker["AMQP_URI"]
    container = container_factory(Slow, broker)
    container.start()
    with ClusterRpcClient(uri=uri, timeout=30) as client:
        reply = client.slow.hold.call_async(key="k1")
        poll_until(lambda: started == ["k1"])
        stopping = eventlet.spawn(container.stop)
        poll_until(lambda: not consumers_of(uri, "rpc-slow"), description="cancelling")
        release[0].send()
        assert reply.result() == "k1"
    stopping.wait()
    assert queue_state(uri, "rpc-slow") == (0, 0)
    assert started == ["k1"]


def test_a_stopping_service_relays_what_its_last_workers_emitted(
    container_factory, broker, intake_db, lodge_env, tmp_path
):
    uri = broker["AMQP_URI"]
    alive = tmp_path / "alive"
    lodge_env.setenv("LODGE_LIVENESS_FILE", str(alive))
    get_settings.cache_clear()
    container = container_factory(LastWords, broker)
    container.start()
    poll_until(alive.exists, description="the relay touches the liveness file")
    with ClusterRpcClient(uri=uri, timeout=30) as client:
        replies = [client.intake.withdraw.call_async(deposit_id=f"d{n}") for n in range(3)]
        poll_until(lambda: len(started) == 3)
        stopping = eventlet.spawn(container.stop)
        poll_until(lambda: not consumers_of(uri, "rpc-intake"), description="cancelling")
        release[0].send()
        assert sorted(reply.result() for reply in replies) == ["d0", "d1", "d2"]
    stopping.wait()

    assert queue_state(uri, APPROVAL_QUEUE) == (3, 0)
    store = next(dep for dep in container.dependencies if isinstance(dep, Store))
    with store.reading() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert not alive.exists(), "a stopped service leaves its liveness file behind"


@pytest.mark.parametrize(
    "body, error",
    [
        ({"kwargs": {}}, "MalformedRequest"),
        ([["args"], {"kwargs": {}}], "TypeError"),
        ({"args": [], "kwargs": {"key": "k", "forged": True}}, "TypeError"),
        ({"args": ["k" * 1_000_000], "kwargs": {"key": "k"}}, "TypeError"),
        ({"args": [], "kwargs": {"key": [[[[["\x00\x1b"]]]]], "other": {}}}, "TypeError"),
    ],
)
def test_a_malformed_call_is_answered_with_an_error_and_the_service_carries_on(
    container_factory, broker, body, error
):
    uri = broker["AMQP_URI"]
    container_factory(Slow, broker).start()
    release[0].send()
    replies = Queue("drain-test-replies", exchange=get_rpc_exchange(), routing_key="drain-replies")
    with Connection(uri) as connection:
        replies.bind(connection.default_channel).declare()
        connection.Producer().publish(
            body,
            exchange=get_rpc_exchange(),
            routing_key="slow.hold",
            reply_to="drain-replies",
            correlation_id="c1",
            serializer="json",
        )
        reply = poll_until(lambda: replies.bind(connection.default_channel).get(no_ack=True))
    assert reply.payload["result"] is None
    assert reply.payload["error"]["exc_type"] == error
    assert queue_state(uri, "rpc-slow") == (0, 1)
    with ClusterRpcClient(uri=uri, timeout=30) as client:
        assert client.slow.hold(key="next") == "next"
