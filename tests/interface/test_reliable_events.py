"""Event handlers never drop a message: retried, then dead-lettered with the reason kept."""

import time

import eventlet
import pytest
from kombu import Connection
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange
from nameko.testing.services import entrypoint_waiter

from kernel.contracts.events import new_event
from kernel.platform.messaging import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    dead_letter_queue,
    handles_event,
)
from lodge.topology import declare
from tests.interface.conftest import wait_for_message

calls = []
names = []


class Flaky:
    """Fails the first `failures` deliveries of each withdrawal, then succeeds."""

    name = "flaky"
    failures = 0

    @handles_event("intake", "deposit_withdrawn")
    def on_withdrawn(self, event):
        calls.append(event["deposit_id"])
        names.append(event["actor"]["name"])
        if calls.count(event["deposit_id"]) <= self.failures:
            raise RuntimeError(f"storage unavailable for {event['deposit_id']}")


def publish(amqp_uri, payload):
    Publisher(amqp_uri).publish(
        payload, exchange=get_event_exchange("intake"), routing_key="deposit_withdrawn"
    )


def withdrawn(deposit_id):
    return new_event(
        "intake",
        "deposit_withdrawn",
        deposit_id=deposit_id,
        revision=1,
        actor={"id": "u1", "name": "Sam"},
    )


@pytest.fixture(autouse=True)
def flaky_topology(broker):
    """What `lodge migrate` would declare were Flaky one of Lodge's services."""
    declare(broker["AMQP_URI"], [Flaky])


@pytest.fixture(autouse=True)
def reset_calls():
    calls.clear()
    names.clear()
    yield
    Flaky.failures = 0


def test_a_failing_handler_is_retried_until_it_succeeds(container_factory, broker):
    Flaky.failures = 2
    container_factory(Flaky, broker).start()
    publish(broker["AMQP_URI"], withdrawn("d1"))
    deadline = eventlet.Timeout(15)
    with deadline:
        while calls.count("d1") < 3:
            eventlet.sleep(0.02)
    assert calls == ["d1", "d1", "d1"]


def test_a_handler_that_keeps_failing_is_dead_lettered_with_the_reason(container_factory, broker):
    Flaky.failures = 99
    container_factory(Flaky, broker).start()
    publish(broker["AMQP_URI"], withdrawn("d2"))
    message = wait_for_message(broker["AMQP_URI"], "lodge.dead-letter.flaky")
    assert message.headers[ATTEMPTS_HEADER] == 3
    assert message.headers[ERROR_HEADER] == "RuntimeError: storage unavailable for d2"
    assert message.headers["x-lodge-queue"] == "evt-intake-deposit_withdrawn--flaky.on_withdrawn"
    assert message.payload["deposit_id"] == "d2"
    assert calls == ["d2", "d2", "d2"]


def test_a_message_that_breaks_its_contract_is_dead_lettered_at_once(container_factory, broker):
    container = container_factory(Flaky, broker)
    container.start()
    publish(broker["AMQP_URI"], {"deposit_id": "d3", "surprise": True})
    message = wait_for_message(broker["AMQP_URI"], "lodge.dead-letter.flaky")
    assert "breaks the intake.deposit_withdrawn contract" in message.headers[ERROR_HEADER]
    assert message.headers[ATTEMPTS_HEADER] == 1
    assert calls == []
    # the consumer is still alive and handles the next good message
    with entrypoint_waiter(container, "on_withdrawn"):
        publish(broker["AMQP_URI"], withdrawn("d4"))
    assert calls == ["d4"]


def take_undecoded(amqp_uri: str, service_name: str, timeout: float = 15):
    """The next dead letter of a service, as it is (a consumer would try to decode it)."""
    with Connection(amqp_uri) as connection:
        queue = dead_letter_queue(service_name).bind(connection.default_channel)
        queue.declare()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = queue.get(no_ack=True)
            if message is not None:
                return message
            eventlet.sleep(0.05)
    raise AssertionError(f"no dead letter arrived for {service_name}")


@pytest.mark.parametrize(
    "body, content_type, problem",
    [
        (b'{"deposit_id": "d6", "revision": ', "application/json", "DecodeError: Expecting value"),
        (b"\xff\xfe not text", "application/json", "cannot be decoded as application/json"),
        (b"deposit_id=d7", "application/x-www-form-urlencoded", "ContentDisallowed"),
        (b"\x80\x04K\x01.", "application/x-python-serialize", "ContentDisallowed"),
    ],
)
def test_a_message_that_cannot_be_decoded_is_dead_lettered_with_the_reason(
    container_factory, broker, body, content_type, problem
):
    container = container_factory(Flaky, broker)
    container.start()
    Publisher(broker["AMQP_URI"]).publish(
        body,
        exchange=get_event_exchange("intake"),
        routing_key="deposit_withdrawn",
        serializer=None,
        content_type=content_type,
        content_encoding="binary",
    )
    message = take_undecoded(broker["AMQP_URI"], "flaky")
    assert problem in message.headers[ERROR_HEADER]
    assert message.headers["x-lodge-queue"] == "evt-intake-deposit_withdrawn--flaky.on_withdrawn"
    assert message.body == body and message.content_type == content_type  # kept as it came
    # the consumer is still alive and handles the next good message
    with entrypoint_waiter(container, "on_withdrawn"):
        publish(broker["AMQP_URI"], withdrawn("d8"))
    assert calls == ["d8"]


def test_redelivered_raw_bytes_keep_their_encoding(container_factory, broker):
    """A retried message is re-published byte for byte, not re-serialised."""
    Flaky.failures = 1
    container_factory(Flaky, broker).start()
    payload = withdrawn("d5")
    payload["actor"]["name"] = "Jürgen ✓"
    publish(broker["AMQP_URI"], payload)
    with eventlet.Timeout(15):
        while calls.count("d5") < 2:
            eventlet.sleep(0.02)
    assert names == ["Jürgen ✓", "Jürgen ✓"]
