"""The gateway's pool of RPC clients on real RabbitMQ: replies come back on one kept
connection, and a connection the broker closed is replaced without losing the reply."""

import sys
import threading
import time
from urllib.parse import quote, urlsplit

import pytest
import requests
from kombu import Exchange, Queue
from nameko.exceptions import RpcTimeout, UnknownService

from gateway.rpc import CONNECTION_NAME, BrokerUnavailable, KeptPublisher, RpcPool, alive
from kernel.platform.config import get_settings
from services.intake.service import IntakeService
from tests.services.conftest import STUDENT, THESIS_METADATA
from tests.support.system import RABBIT_API, RABBIT_AUTH, close_broker_connections, poll_until


def management(path: str):
    response = requests.get(f"{RABBIT_API}{path}", auth=RABBIT_AUTH, timeout=10)
    response.raise_for_status()
    return response.json()


def reply_consumer_connection(
    vhost: str, other_than: str | None = None, timeout: float = 30
) -> str:
    """The connection consuming from the client's reply queue, once the broker lists it
    (and, given `other_than`, once it lists another one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for queue in management(f"/queues/{quote(vhost, safe='')}"):
            if queue["name"].startswith("rpc.reply-standalone_rpc_client"):
                # only a single queue's page lists its consumers
                consumers = management(
                    f"/queues/{quote(vhost, safe='')}/{quote(queue['name'], safe='')}"
                )["consumer_details"]
                for consumer in consumers:
                    # the broker lists a channel's details once its statistics come in
                    channel = consumer.get("channel_details")
                    name = channel.get("connection_name") if isinstance(channel, dict) else None
                    if name and name != other_than:
                        return name
        time.sleep(0.2)
    raise AssertionError("no (other) connection kept consuming the reply queue")


@pytest.fixture
def pool(container_factory, broker, intake_db):
    container_factory(IntakeService, broker).start()
    pool = RpcPool(broker["AMQP_URI"], size=2, timeout=15)
    yield pool
    pool.close()


def profile_ids(services) -> list[str]:
    return [profile["id"] for profile in services.intake.list_profiles(actor=STUDENT)]


def test_replies_come_back_on_one_kept_connection(pool, broker):
    vhost = urlsplit(broker["AMQP_URI"]).path.lstrip("/")
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]
    first = reply_consumer_connection(vhost)
    with pool.client() as services:
        for _ in range(20):
            assert profile_ids(services) == ["thesis"]
        replies = [services.intake.list_profiles.call_async(actor=STUDENT) for _ in range(4)]
        assert [[p["id"] for p in reply.result()] for reply in replies] == [["thesis"]] * 4
    assert reply_consumer_connection(vhost) == first
    # no heartbeats the idle connection could miss (the broker would close it)
    assert management(f"/connections/{quote(first, safe='')}")["timeout"] == 0


def test_a_connection_the_broker_closed_is_replaced_without_losing_the_reply(pool, broker):
    vhost = urlsplit(broker["AMQP_URI"]).path.lstrip("/")
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]
    kept = reply_consumer_connection(vhost)
    requests.delete(
        f"{RABBIT_API}/connections/{quote(kept, safe='')}",
        auth=RABBIT_AUTH,
        headers={"X-Reason": "test: an idle connection dropped"},
        timeout=10,
    ).raise_for_status()
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]
    reply_consumer_connection(vhost, other_than=kept)  # a new connection took over the replies


def test_the_reply_queue_is_declared_once_per_connection(pool, broker, monkeypatch):
    """Not before every request (three round trips to the broker each time), but again on
    the new connection after the broker closed the old ones."""
    vhost = urlsplit(broker["AMQP_URI"]).path.lstrip("/")
    declared = []  # who declared the reply queue: "publisher" or "listener"
    real_declare = Queue.declare

    def counted(queue, *args, **kwargs):
        if queue.name.startswith("rpc.reply-standalone_rpc_client"):
            declared.append("publisher" if sending_a_request() else "listener")
        return real_declare(queue, *args, **kwargs)

    monkeypatch.setattr(Queue, "declare", counted)
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]
        declared.clear()
        for _ in range(20):
            assert profile_ids(services) == ["thesis"]
        assert declared == []
        # the broker closes the publisher's and the listener's connections
        deadline = time.monotonic() + 30
        while gateway_connections(vhost) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert close_broker_connections(vhost, CONNECTION_NAME, "test: reconnect") >= 2
        assert profile_ids(services) == ["thesis"]
        # by the publisher and by the listener, each on its new connection
        assert set(declared) == {"publisher", "listener"}


def sending_a_request() -> bool:
    """Whether the gateway's publisher is on the stack (not the reply listener)."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is KeptPublisher.publish.__code__:
            return True
        frame = frame.f_back
    return False


def gateway_connections(vhost: str) -> int:
    return sum(
        (connection.get("client_properties") or {}).get("connection_name") == CONNECTION_NAME
        for connection in management(f"/vhosts/{quote(vhost, safe='')}/connections")
    )


def test_deposits_made_while_the_broker_drops_connections_each_happen_once(
    container_factory, broker, intake_db, monkeypatch
):
    """No request is sent twice: the broker keeps closing the gateway's connections (between
    calls and in the middle of them) while deposits are made. A call whose request broke
    on the way waits for its reply; one that never arrived answers 'unavailable' (503), and
    the client sends it again."""
    monkeypatch.setenv("LODGE_QUOTA_DRAFTS", "100000")  # one student makes them all
    get_settings.cache_clear()
    container_factory(IntakeService, broker).start()
    pool = RpcPool(broker["AMQP_URI"], size=2, timeout=5)
    vhost = urlsplit(broker["AMQP_URI"]).path.lstrip("/")
    stop, closed = threading.Event(), []

    def drop_connections():
        while not stop.is_set():
            closed.append(
                close_broker_connections(
                    vhost, CONNECTION_NAME, "test: the broker drops the gateway"
                )
            )
            stop.wait(0.05)

    dropper = threading.Thread(target=drop_connections)
    dropper.start()
    titles, unavailable, deadline = [], [], time.monotonic() + 90
    try:
        # the broker lists a new connection some seconds after it opens, so deposits are
        # made until it has dropped the gateway's connections a few times
        while sum(closed) < 6 and time.monotonic() < deadline:
            titles.append(f"Made while the broker drops connections {len(titles)}")
            for _ in range(3):
                try:
                    with pool.client() as services:
                        services.intake.create_deposit(
                            actor=STUDENT,
                            profile_id="thesis",
                            on_behalf_of=None,
                            metadata={**THESIS_METADATA, "title": titles[-1]},
                        )
                    break
                except (BrokerUnavailable, RpcTimeout):
                    unavailable.append(titles[-1])
    finally:
        stop.set()
        dropper.join()
    assert sum(closed) >= 6, closed  # the connections really were dropped, again and again
    made, page = [], 1
    with pool.client() as services:
        while len(made) < len(titles) + 1:  # one page past: a duplicate would show
            items = services.intake.list_deposits(
                actor=STUDENT, status=None, depositor_id=None, page=page, per_page=100
            )["items"]
            if not items:
                break
            made += [item["title"] for item in items]
            page += 1
    pool.close()
    assert sorted(made) == sorted(titles), unavailable


def test_replies_never_waited_for_are_not_kept_once_the_client_is_back(pool):
    """A page that stops at an error after asking several questions at once leaves their
    replies unread: the client goes back to the pool without them, and answers the next
    borrower's calls as before."""
    with pytest.raises(LookupError), pool.client() as services:
        for _ in range(3):
            services.intake.list_profiles.call_async(actor=STUDENT)
        raise LookupError("the page stopped here")
    [(runner, _)] = pool._idle.queue
    assert runner.reply_listener.pending == {}
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]  # its replies come and are dropped
        services.intake.list_profiles.call_async(actor=STUDENT)  # a page that did not wait
    [(again, _)] = pool._idle.queue
    assert again is runner and runner.reply_listener.pending == {}
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]


def test_calls_asked_at_once_wait_for_their_confirms_together(pool):
    """The broker confirms each request, and the confirms are awaited with the replies:
    three calls asked at once are all on their way before any confirm is waited for."""
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]
    [(runner, _)] = pool._idle.queue
    publisher = runner.publisher
    with pool.client() as services:
        replies = [services.intake.list_profiles.call_async(actor=STUDENT) for _ in range(3)]
        # the last was not waited for: its confirm is read only with its reply
        assert list(publisher.confirms.waiting.values())[-1:] == [replies[-1].correlation_id]
        assert [[p["id"] for p in reply.result()] for reply in replies] == [["thesis"]] * 3
        assert publisher.confirms.waiting == {}  # each confirmed by the time of its reply


def test_a_call_to_no_such_service_is_refused_at_once(pool):
    started = time.monotonic()
    with pytest.raises(UnknownService), pool.client() as services:
        services.nobody.anything()
    assert time.monotonic() - started < 5  # not the call's 15-second timeout
    with pool.client() as services:  # the client that was refused still serves
        assert profile_ids(services) == ["thesis"]


def test_a_refusal_is_kept_when_another_call_replaces_the_connection(pool, broker):
    """A call to no such service is sent and another call's wait reads its refusal; the
    broker then closes the connection and a third call replaces it. Awaited last, the
    refused call still fails at once, not at the call's timeout."""
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]
    [(runner, _)] = pool._idle.queue
    publisher = runner.publisher
    vhost = urlsplit(broker["AMQP_URI"]).path.lstrip("/")
    with pool.client() as services:
        refused = services.nobody.anything.call_async()
        assert profile_ids(services) == ["thesis"]  # its confirm comes after the refusal
        connection = publisher.connection
        poll_until(
            lambda: (
                close_broker_connections(vhost, CONNECTION_NAME, "test: idle") > 0
                and not alive(connection)
            ),
            timeout=30,
            description="the client's publishing connection closed by the broker",
        )
        assert profile_ids(services) == ["thesis"]
        assert publisher.connection is not connection  # replaced by that call
        started = time.monotonic()
        with pytest.raises(UnknownService):
            refused.result()
        assert time.monotonic() - started < 5  # not the call's 15-second timeout


def test_a_connection_closed_behind_unread_confirms_is_replaced_before_sending(pool, broker):
    """A page that stopped at an error leaves its calls' confirms unread; the broker then
    closes the idle connection. The next request sees the close behind them and goes out
    on a new connection, rather than into the closed one (its reply would never come)."""
    with pytest.raises(LookupError), pool.client() as services:
        for _ in range(3):
            services.intake.list_profiles.call_async(actor=STUDENT)
        raise LookupError("the page stopped here")
    vhost = urlsplit(broker["AMQP_URI"]).path.lstrip("/")
    closed: list[int] = []  # the management API lists a new connection within seconds
    poll_until(
        lambda: (
            closed.append(close_broker_connections(vhost, CONNECTION_NAME, "test: idle"))
            or sum(closed) >= 2
        ),
        timeout=30,
        description="the client's publishing and reply connections closed by the broker",
    )
    started = time.monotonic()
    with pool.client() as services:
        assert profile_ids(services) == ["thesis"]
    assert time.monotonic() - started < 5  # not the call's 15-second timeout


def test_a_channel_the_broker_closes_before_the_confirm_is_unavailable_at_once(broker):
    """A request to an exchange that is gone: the broker closes the channel where the
    confirm would come. The call fails at once and the connection is dropped."""
    publisher = KeptPublisher(
        broker["AMQP_URI"], connect_within=15, exchange=Exchange("no-such-exchange")
    )
    started = time.monotonic()
    publisher.publish({"args": [], "kwargs": {}}, routing_key="x.y", correlation_id="c1")
    with pytest.raises(BrokerUnavailable, match="closed the channel"):
        publisher.settle("c1")
    assert time.monotonic() - started < 5
    assert publisher.connection is None
