"""Quorum queues on the real RabbitMQ: what `lodge migrate` declares, how it rebuilds the
classic queues of an existing deployment without losing a message, what the delivery
limit does, and retry delays that do not wait behind each other."""

import json
from urllib.parse import quote

import amqp
import eventlet
import pytest
import requests
from click.testing import CliRunner
from kombu import Connection, Queue
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange

from kernel.contracts.events import new_event
from kernel.platform.config import get_settings
from kernel.platform.messaging import (
    ATTEMPTS_HEADER,
    DELIVERY_LIMIT,
    RETRY_EXCHANGE,
    dead_letter_queue,
    handles_event,
    rpc,
    rpc_queue,
)
from lodge import topology
from lodge.cli import main
from lodge.registry import SERVICE_CLASSES, service_class
from tests.interface.conftest import wait_for_message
from tests.support.system import RABBIT_API, RABBIT_AUTH, poll_until, vhost_of

INVENTORY_QUEUE = "evt-approval-deposit_approved--inventory.on_deposit_approved"


def queues_on_broker(amqp_uri: str) -> dict[str, dict]:
    """GET /api/queues/<vhost>: name → type, durable, exclusive, auto_delete, arguments."""
    response = requests.get(
        f"{RABBIT_API}/queues/{quote(vhost_of(amqp_uri), safe='')}", auth=RABBIT_AUTH, timeout=10
    )
    response.raise_for_status()
    return {
        queue["name"]: {
            key: queue[key] for key in ("type", "durable", "exclusive", "auto_delete", "arguments")
        }
        for queue in response.json()
    }


def lodge_queue_names() -> set[str]:
    """The queues `lodge migrate` is to declare for Lodge's five services and the inbox."""
    wanted = {"lodge.inbox.requests", "lodge.dead-letter.inbox"}
    for name in SERVICE_CLASSES:
        cls = service_class(name)
        wanted.add(f"lodge.dead-letter.{name}")
        if topology.serves_rpc(cls):
            wanted.add(f"rpc-{name}")
        for queue in topology.event_queues(cls):
            wanted.add(queue.name)
            wanted.update(delay.name for delay in topology.retry_queues(queue.name))
    return wanted


def migrate() -> None:
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 0, result.output


def message_count(amqp_uri: str, name: str) -> int:
    with Connection(amqp_uri) as connection:
        return connection.default_channel.queue_declare(name, passive=True).message_count


def drain(amqp_uri: str, name: str) -> list:
    """Every message in queue `name`, taken (acknowledged)."""
    taken = []
    with Connection(amqp_uri) as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(name, no_ack=True)) is not None:
            taken.append(message)
    return taken


def put(channel, queue_name: str, body: str, headers=None, **properties) -> None:
    message = amqp.Message(body.encode(), application_headers=headers or {}, **properties)
    channel.basic_publish_confirm(message, exchange="", routing_key=queue_name, mandatory=True)


def classic(queue: Queue) -> Queue:
    """`queue` as it was declared before: classic, bound the same."""
    return Queue(queue.name, exchange=queue.exchange, routing_key=queue.routing_key, durable=True)


def classic_deployment(amqp_uri: str) -> dict[str, set[str]]:
    """The topology of before (classic queues: event queues, their one shared `.retry`
    queue, dead-letter queues, and `rpc-<service>` as nameko declared it), a message in
    each. Returns, per queue of the new topology, the bodies it must then hold."""
    expected: dict[str, set[str]] = {}
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for name in SERVICE_CLASSES:
            cls = service_class(name)
            old = [dead_letter_queue(name)] + (
                [rpc_queue(name)] if topology.serves_rpc(cls) else []
            )
            for queue in old:
                classic(queue)(channel).declare()
                put(channel, queue.name, f"kept in {queue.name}")
                expected[queue.name] = {f"kept in {queue.name}"}
            for queue in topology.event_queues(cls):
                classic(queue)(channel).declare()
                shared_retry = Queue(
                    f"{queue.name}.retry",
                    exchange=RETRY_EXCHANGE,
                    routing_key=f"{queue.name}.retry",
                    durable=True,
                    queue_arguments={
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": queue.name,
                    },
                )
                shared_retry(channel).declare()
                put(channel, queue.name, f"kept in {queue.name}", headers={ATTEMPTS_HEADER: 1})
                # a retry waiting out its backoff: goes back to its queue at once
                put(channel, shared_retry.name, f"retry of {queue.name}", expiration="600000")
                expected[queue.name] = {f"kept in {queue.name}", f"retry of {queue.name}"}
    assert all(q["type"] == "classic" for q in queues_on_broker(amqp_uri).values())
    return expected


def test_migrate_declares_every_queue_of_lodge_as_a_durable_quorum_queue(broker):
    migrate()
    queues = queues_on_broker(broker["AMQP_URI"])
    assert set(queues) == lodge_queue_names()
    for name, queue in queues.items():
        assert queue["type"] == "quorum", name
        assert (queue["durable"], queue["exclusive"], queue["auto_delete"]) == (True, False, False)
    # a queue a service consumes dead-letters a message past the delivery limit to its
    # service's dead-letter queue; the dead-letter queue itself has neither
    assert queues[INVENTORY_QUEUE]["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "lodge.dead-letter",
        "x-dead-letter-routing-key": "inventory",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert queues["rpc-intake"]["arguments"]["x-dead-letter-routing-key"] == "intake"
    assert queues["lodge.dead-letter.inventory"]["arguments"] == {"x-queue-type": "quorum"}
    # one delay queue per backoff step (the broker fixture: 3 attempts, 50 ms doubling)
    delay_queues = {name for name in queues if name.startswith(f"{INVENTORY_QUEUE}.retry")}
    assert delay_queues == {f"{INVENTORY_QUEUE}.retry.50ms", f"{INVENTORY_QUEUE}.retry.100ms"}
    assert queues[f"{INVENTORY_QUEUE}.retry.100ms"]["arguments"]["x-message-ttl"] == 100


def test_migrate_moves_classic_queues_to_quorum_keeping_every_message(rabbit_vhost, lodge_env):
    """An existing deployment: today's classic queues, holding messages."""
    lodge_env.setenv("LODGE_AMQP_URI", rabbit_vhost)
    expected = classic_deployment(rabbit_vhost)
    migrate()
    queues = queues_on_broker(rabbit_vhost)
    assert set(queues) == lodge_queue_names()  # no `.moving`, no shared `.retry` left
    assert {queue["type"] for queue in queues.values()} == {"quorum"}
    counts = {name: message_count(rabbit_vhost, name) for name in queues}

    migrate()  # again: nothing to do, nothing changes
    assert queues_on_broker(rabbit_vhost) == queues
    assert {name: message_count(rabbit_vhost, name) for name in queues} == counts

    for name, bodies in expected.items():
        messages = drain(rabbit_vhost, name)
        assert {message.body.decode() for message in messages} == bodies, name
        for message in messages:
            assert "expiration" not in message.properties, name
            if message.body.decode().startswith("kept in evt-"):
                assert message.headers[ATTEMPTS_HEADER] == 1
    assert all(message_count(rabbit_vhost, name) == 0 for name in queues)


@pytest.mark.parametrize(
    "old_left",
    [True, False],
    ids=["cut-short-while-emptying-the-classic-queue", "cut-short-after-deleting-it"],
)
def test_a_migrate_cut_short_is_finished_by_the_next(rabbit_vhost, lodge_env, old_left):
    """Killed halfway: some messages in `<queue>.moving`, the classic queue still there
    with the rest (or already deleted). The next run leaves one quorum queue with all."""
    lodge_env.setenv("LODGE_AMQP_URI", rabbit_vhost)
    (wanted,) = [
        q for q in topology.event_queues(service_class("inventory")) if q.name == INVENTORY_QUEUE
    ]
    with Connection(rabbit_vhost) as connection:
        channel = connection.channel()
        topology.event_exchange("approval")(channel).declare()
        Queue(
            f"{wanted.name}.moving",
            exchange=wanted.exchange,
            routing_key=wanted.routing_key,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )(channel).declare()
        put(channel, f"{wanted.name}.moving", "moved already")
        if old_left:
            Queue(wanted.name, durable=True)(channel).declare()
            put(channel, wanted.name, "not moved yet")
    migrate()
    queues = queues_on_broker(rabbit_vhost)
    assert f"{wanted.name}.moving" not in queues
    assert queues[wanted.name]["type"] == "quorum"
    bodies = {message.body.decode() for message in drain(rabbit_vhost, wanted.name)}
    assert bodies == ({"moved already", "not moved yet"} if old_left else {"moved already"})


def test_a_message_past_the_delivery_limit_lands_in_the_dead_letter_queue_with_why(broker):
    """A worker that dies before settling a message returns it; past the limit the broker
    dead-letters it to the service's dead-letter queue, never drops it."""
    amqp_uri = broker["AMQP_URI"]
    Publisher(amqp_uri).publish(
        {"deposit_id": "d-poison"}, exchange="approval.events", routing_key="deposit_approved"
    )
    returned = 0
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        while message_count(amqp_uri, "lodge.dead-letter.inventory") == 0:
            message = channel.basic_get(INVENTORY_QUEUE)
            if message is None:
                eventlet.sleep(0.02)
                continue
            channel.basic_reject(message.delivery_tag, requeue=True)  # as a crash would
            returned += 1
            assert returned <= DELIVERY_LIMIT + 1, "the delivery limit did not trigger"
    assert returned == DELIVERY_LIMIT + 1
    (dead,) = drain(amqp_uri, "lodge.dead-letter.inventory")
    assert json.loads(dead.body) == {"deposit_id": "d-poison"}
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    assert dead.headers["x-first-death-queue"] == INVENTORY_QUEUE
    assert message_count(amqp_uri, INVENTORY_QUEUE) == 0


redeliveries: list[str] = []
BACKOFF_QUEUE = "evt-intake-deposit_withdrawn--backoff.on_withdrawn"


class Backoff:
    """Fails the first delivery of each withdrawal; serves RPC too (its queue: quorum)."""

    name = "backoff"

    @handles_event("intake", "deposit_withdrawn")
    def on_withdrawn(self, event):
        redeliveries.append(event["deposit_id"])
        if redeliveries.count(event["deposit_id"]) == 1:
            raise RuntimeError(f"not yet: {event['deposit_id']}")

    @rpc
    def ping(self):
        return "pong"


@pytest.fixture
def backoff_topology(broker, lodge_env):
    """Retries wait 250 ms, 500 ms, 1 s, 2 s, then 4 s; declared as `lodge migrate` would."""
    lodge_env.setenv("LODGE_HANDLER_MAX_ATTEMPTS", "6")
    lodge_env.setenv("LODGE_HANDLER_RETRY_DELAY_MS", "250")
    get_settings.cache_clear()
    topology.declare(broker["AMQP_URI"], [Backoff])
    redeliveries.clear()
    return broker


def withdrawn(amqp_uri: str, deposit_id: str, attempts_before) -> None:
    event = new_event(
        "intake",
        "deposit_withdrawn",
        deposit_id=deposit_id,
        revision=1,
        actor={"id": "u1", "name": "Sam"},
    )
    Publisher(amqp_uri).publish(
        event,
        exchange=get_event_exchange("intake"),
        routing_key="deposit_withdrawn",
        headers={ATTEMPTS_HEADER: attempts_before},
    )


def test_a_short_retry_is_not_held_behind_a_long_one(container_factory, backoff_topology):
    """A message on its fifth attempt waits 4 s before the next; one on its first, 250 ms.
    Failing in that order, the short one still comes back first."""
    amqp_uri = backoff_topology["AMQP_URI"]
    container_factory(Backoff, backoff_topology).start()
    withdrawn(amqp_uri, "long", attempts_before=4)
    poll_until(lambda: redeliveries == ["long"], description="the first delivery of 'long'")
    poll_until(
        lambda: message_count(amqp_uri, f"{BACKOFF_QUEUE}.retry.4000ms"),
        description="'long' waiting out its 4 s",
    )
    withdrawn(amqp_uri, "short", attempts_before=0)
    poll_until(lambda: redeliveries.count("short") == 2, description="the retry of 'short'")
    assert redeliveries[:3] == ["long", "short", "short"]
    poll_until(lambda: redeliveries.count("long") == 2, description="the retry of 'long'")


def test_nameko_declares_a_service_s_queues_as_lodge_migrate_does(
    container_factory, backoff_topology
):
    """RabbitMQ refuses a declaration whose arguments differ: the service starts, and
    consumes its quorum queues."""
    container_factory(Backoff, backoff_topology).start()
    queues = queues_on_broker(backoff_topology["AMQP_URI"])
    assert queues["rpc-backoff"]["type"] == "quorum"
    assert queues[BACKOFF_QUEUE]["type"] == "quorum"
    with Connection(backoff_topology["AMQP_URI"]) as connection:
        assert (
            connection.default_channel.queue_declare("rpc-backoff", passive=True).consumer_count
            == 1
        )


@pytest.mark.parametrize("forged", [-7, "many", 2.5, True, None])
def test_a_forged_attempt_count_counts_as_none(container_factory, backoff_topology, forged):
    """The header picks the delay queue: a value that is no count is the first attempt."""
    container_factory(Backoff, backoff_topology).start()
    amqp_uri = backoff_topology["AMQP_URI"]
    withdrawn(amqp_uri, "forged", attempts_before=forged)
    poll_until(lambda: redeliveries == ["forged", "forged"], description="the first retry")


def test_a_huge_attempt_count_is_dead_lettered_at_once(container_factory, backoff_topology):
    container_factory(Backoff, backoff_topology).start()
    amqp_uri = backoff_topology["AMQP_URI"]
    withdrawn(amqp_uri, "worn", attempts_before=2**40)
    message = wait_for_message(amqp_uri, "lodge.dead-letter.backoff")
    assert message.headers[ATTEMPTS_HEADER] == 2**40 + 1
    assert redeliveries == ["worn"]
