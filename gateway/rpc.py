"""A pool of nameko RPC clients: the gateway reuses broker connections, never one per request.

nameko's ClusterRpcClient serves one thread at a time, so each request borrows a started
client and gives it back. A client whose connection broke is dropped and replaced.

When the broker drops the gateway's connections, a call is resent only when it certainly
never left: connecting is retried until the call's time is up, but a request whose publish
broke half-way may have reached its service (resending could create a deposit twice), so
its reply is awaited instead, and the reply queue outlives the connection. Only a call
whose reply never comes answers 503 (`BrokerUnavailable` or nameko's RpcTimeout).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import queue
import threading
import time
from collections import Counter

from amqp.exceptions import ConnectionError as AmqpConnectionError
from amqp.exceptions import NotFound
from flask import current_app, g, has_request_context
from kombu import Connection, Producer
from kombu.exceptions import ChannelError, OperationalError
from nameko.amqp.publish import Publisher, get_connection
from nameko.constants import PERSISTENT
from nameko.exceptions import ReplyQueueExpiredWithPendingReplies, RpcTimeout, UnknownService
from nameko.messaging import encode_to_headers
from nameko.standalone.rpc import ClusterRpcClient, ReplyListener
from opentelemetry.trace import SpanKind

from kernel.contracts.actors import Actor
from kernel.contracts.rpc import CALL_KEY_HEADER
from kernel.platform.config import each_node_once
from kernel.platform.messaging import Confirms, hide_broker_passwords, replicated_on_a_cluster
from kernel.platform.metrics import GATEWAY_RPC_SECONDS
from kernel.platform.observability import outgoing_headers, span
from kernel.platform.sockets import spoke

log = logging.getLogger(__name__)

CONNECTION_LOST = (AmqpConnectionError, OperationalError, OSError)
BROKER_LOST = (AmqpConnectionError, OperationalError)
# the name the broker's management pages (and the fault tests) know the gateway by
CONNECTION_NAME = "lodge-gateway"
RECONNECT_PAUSE = (0.05, 1.0)  # first and longest pause between attempts, seconds
# the key of the call being sent, if its request has one (CallKeys)
sending_key: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sending_key", default=None
)


class BrokerUnavailable(Exception):
    """The broker could not be reached within the call's time."""


def gateway_connection(amqp_uri: str, **kwargs) -> Connection:
    options = {"client_properties": {"connection_name": CONNECTION_NAME}}
    options.update(kwargs.pop("transport_options", {}))
    return Connection(amqp_uri, transport_options=options, **kwargs)


def check_broker(amqp_uri: str) -> None:
    """Raises unless the broker (a node of the cluster) answers within one connection
    attempt at each node (for /readyz)."""
    with get_connection(amqp_uri) as connection:
        connection.ensure_connection(max_retries=each_node_once(amqp_uri))


def pauses(deadline: float):
    """Reconnection attempts until `deadline` (time.monotonic()): each next() first waits a
    pause that doubles up to a second; None once the next pause would pass the deadline."""
    pause = RECONNECT_PAUSE[0]
    while time.monotonic() + pause < deadline:
        time.sleep(pause)
        yield pause
        pause = min(pause * 2, RECONNECT_PAUSE[1])


def alive(connection: Connection) -> bool:
    """Whether a kept connection still stands, without a round trip: besides the confirms
    of requests nobody waited for, an idle connection only has something to read when the
    broker closed it (or sent a notice). Everything waiting is read, so a close behind
    some confirms is seen."""
    if not connection.connected:  # before .connection, which would connect
        return False
    sock = getattr(getattr(connection.connection, "transport", None), "sock", None)
    if sock is None:
        return False
    try:
        while spoke(sock):
            connection.drain_events(timeout=0.01)
    except TimeoutError:
        return True
    except Exception:  # noqa: BLE001 - whatever the broker said, this connection is done
        return False
    return True


class KeptPublisher(Publisher):
    """Sends requests on one kept connection, at most once each.

    nameko's publisher takes pooled connections that may be dead and republishes after
    any connection error, including one that broke after the broker had the request.
    This one checks its connection before use and reconnects while nothing is sent; once
    the publish has begun it never sends again.

    Every request is confirmed by the broker (publisher confirms), but the confirm is
    awaited with the call's reply (`settle`), not after each publish: a page that asks
    several services at once waits for their confirms together, one round trip, instead of
    one after another. A request no queue takes comes back (mandatory) before its confirm:
    UnknownService, as nameko says; one the broker refuses (its queue's node stopped) is
    nacked: BrokerUnavailable.

    It declares the reply queue once per connection. kombu never caches the declaration of
    a queue that expires, as nameko's reply queue does, so it would declare it again before
    every request: three round trips to the broker on each call. The reply listener
    consumes the queue without a break, so it does not expire while in use, and declares
    it itself whenever it reconnects."""

    connection: Connection | None = None
    producer: Producer  # on the connection's channel in confirm mode
    declared_on: Connection | None = None

    def __init__(self, amqp_uri: str, connect_within: float = 30.0, **options):
        super().__init__(amqp_uri, **options)
        self.connect_within = connect_within
        self.confirms: Confirms | None = None  # the connection's, by correlation id
        # kept until their calls are awaited, across connections: another call may replace
        # the connection before then
        self._returned: dict[str, str] = {}  # correlation id: the service no queue serves
        self._refused: set[str] = set()  # correlation ids the broker nacked

    def publish(self, payload, **kwargs):
        headers = {
            **kwargs.pop("headers", {}),
            **kwargs.pop("extra_headers", {}),
            # the request's correlation id and the calling span: nameko context data
            **encode_to_headers(outgoing_headers()),
            # the call's key, if its request has one (CallKeys)
            **({CALL_KEY_HEADER: key} if (key := sending_key.get()) else {}),
        }
        connection = self._connected()
        declare = [
            *(self.declare if self.declared_on is not connection else ()),
            *kwargs.pop("declare", ()),
        ]
        try:
            self.producer.publish(
                payload,
                headers=headers,
                declare=declare,
                retry=False,
                delivery_mode=PERSISTENT,
                serializer=self.serializer,
                **{**self.publish_kwargs, **kwargs},
            )
        except ChannelError:
            self.close()
            raise
        except CONNECTION_LOST as err:
            # the request may be at its service: its reply (or the timeout) decides
            self.close()
            log.warning(
                "broker connection lost while sending %s; awaiting its reply: %s",
                kwargs.get("routing_key"),
                err,
            )
        else:
            self.declared_on = connection
            assert self.confirms is not None  # made with the connection
            self.confirms.sent(kwargs["correlation_id"])

    def settle(self, correlation_id: str) -> None:
        """Wait for the broker's confirm of the request `correlation_id` (and of those
        sent before it); raise if it was refused. A connection lost meanwhile: the request
        may be at its service, so its reply decides."""
        deadline = time.monotonic() + self.connect_within
        try:
            while self.confirms is not None and correlation_id in self.confirms.waiting.values():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.connection is None:
                    raise BrokerUnavailable("the broker did not confirm the request")
                self.connection.drain_events(timeout=remaining)
        except TimeoutError:
            self.close()
            raise BrokerUnavailable("the broker did not confirm the request") from None
        except ChannelError as err:
            # the channel closed under it (an exchange gone, say): it confirms no more
            self.close()
            raise BrokerUnavailable(f"the broker closed the channel: {err}") from None
        except CONNECTION_LOST as err:
            self.close()
            log.warning("broker connection lost before a confirm; awaiting the reply: %s", err)
            return
        if correlation_id in self._returned:
            raise UnknownService(self._returned.pop(correlation_id))
        self._keep_refusals()
        if correlation_id in self._refused:
            self._refused.remove(correlation_id)
            # not taken: the request's queue is not available (its node stopped)
            raise BrokerUnavailable("the broker refused the request")

    def _keep_refusals(self) -> None:
        if self.confirms is not None:
            self._refused.update(self.confirms.nacked)
            self.confirms.nacked.clear()

    def forget_refusals(self) -> None:
        """Of calls nobody will wait for (their borrower stopped at an error)."""
        self._returned.clear()
        self._refused.clear()
        if self.confirms is not None:
            self.confirms.nacked.clear()

    def _on_return(self, _error, _exchange, routing_key: str, message) -> None:
        # no queue takes the request's routing key ("service.method"), so no such service;
        # the broker confirms the request right after
        self._returned[message.properties.get("correlation_id")] = routing_key.split(".")[0]

    def _connected(self) -> Connection:
        if self.connection is not None and alive(self.connection):
            return self.connection
        self.close()
        attempts = pauses(time.monotonic() + self.connect_within)
        while True:
            connection = gateway_connection(self.amqp_uri, ssl=self.ssl)
            try:
                connection.ensure_connection(max_retries=each_node_once(self.amqp_uri))
                channel = connection.channel()
                confirms = Confirms(channel)
            except CONNECTION_LOST as err:
                connection.release()
                if next(attempts, None) is None:
                    raise BrokerUnavailable(f"the broker cannot be reached: {err}") from None
                continue
            channel.events["basic_return"].add(self._on_return)
            self.connection, self.producer, self.confirms = connection, Producer(channel), confirms
            return connection

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.release()
            self.connection = None
        # what the closed connection was confirming is for the replies to decide
        self._keep_refusals()
        self.confirms = None


class KeptReplyConsumer(ReplyListener.ReplyConsumer):
    @property
    def connect_max_retries(self) -> int:
        return each_node_once(self.amqp_uri)  # the listener paces its own reconnections

    @property
    def connection(self):
        return gateway_connection(
            self.amqp_uri, ssl=self.ssl, login_method=self.login_method, heartbeat=self.heartbeat
        )


class KeptReplyListener(ReplyListener):
    """Waits for replies on one broker connection for the client's whole life.

    nameko's standalone listener starts a new `consume()`, and so opens a new connection,
    for every reply it waits for: about 8 ms on each call. This one keeps its consumer, and
    when the broker has closed the connection it reconnects until the call's time is up;
    the reply queue outlives the connection, so no reply is lost.
    """

    consumer_cls = KeptReplyConsumer
    replies = None
    publisher: KeptPublisher

    def start(self):
        super().start()
        # nobody drains an idle pooled connection, so the broker would count its heartbeats
        # as missed and close it every few minutes; like nameko's publisher connections it
        # relies on TCP keepalive instead
        self.consumer.heartbeat = None

    def check_for_lost_replies(self):
        """After a reconnection: has the reply queue (and so a pending reply) gone?
        nameko's check borrows a pooled connection the broker may have closed too."""
        if not self.pending:
            return
        with gateway_connection(self.amqp_uri, ssl=self.ssl) as connection:
            try:
                self.queue.bind(connection).queue_declare(passive=True)
            except NotFound:
                raise ReplyQueueExpiredWithPendingReplies(
                    "Lost replies for correlation ids: " + ", ".join(self.pending)
                ) from None

    def consume_reply(self, correlation_id):
        if self.consumer.should_stop:
            raise RuntimeError("Stopped and can no longer be used")
        self.publisher.settle(correlation_id)
        attempts = pauses(time.monotonic() + self.timeout)
        while not self.pending.get(correlation_id):
            if self.replies is None:
                self.replies = self.consumer.consume(timeout=self.timeout)
            try:
                next(self.replies)
            except TimeoutError:
                self.close_consumer()
                raise RpcTimeout() from None
            except NotFound as err:
                # a classic reply queue whose node stopped: its replies went with it
                self.close_consumer()
                raise BrokerUnavailable(f"the reply queue is gone: {err}") from None
            except CONNECTION_LOST as err:
                self.close_consumer()
                if next(attempts, None) is None:
                    raise BrokerUnavailable(
                        f"no reply before the broker connection failed: {err}"
                    ) from None
        return self.pending.pop(correlation_id)

    def close_consumer(self) -> None:
        if self.replies is not None:
            with contextlib.suppress(Exception):
                self.replies.close()  # leaves kombu's consumer context: the connection closes
            self.replies = None

    def stop(self):
        super().stop()
        self.close_consumer()


class KeptRpcClient(ClusterRpcClient):
    publisher: KeptPublisher

    def __init__(self, timeout: float, **options):
        super().__init__(timeout=timeout, connect_within=timeout, **options)
        # ClusterRpcClient builds its listener itself; this only swaps in the keeping kind
        self.reply_listener.__class__ = KeptReplyListener
        self.reply_listener.publisher = self.publisher  # whose confirm each reply awaits first
        # a reply sent while the gateway's node stops waits on another node
        replicated_on_a_cluster(self.reply_listener.queue.queue_arguments, self.amqp_uri)

    def publisher_cls(self, *args, **kwargs) -> KeptPublisher:
        """ClusterRpcClient builds its publisher with this and keeps no reference to it;
        the client keeps one to close its connection."""
        self.publisher = KeptPublisher(*args, **kwargs)
        return self.publisher

    def stop(self):
        super().stop()
        self.publisher.close()


class RpcPool:
    def __init__(self, amqp_uri: str, size: int, timeout: float):
        hide_broker_passwords()  # the reply consumers log the node list when a node fails
        self.amqp_uri = amqp_uri
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _new_client(self):
        runner = KeptRpcClient(timeout=self.timeout, uri=self.amqp_uri)
        try:
            return runner, runner.start()  # declares the reply queue: one connection attempt
        except CONNECTION_LOST as err:
            raise BrokerUnavailable(f"the broker cannot be reached: {err}") from err

    @contextlib.contextmanager
    def client(self):
        with self._slots:
            try:
                runner, proxy = self._idle.get_nowait()
            except queue.Empty:
                runner, proxy = self._new_client()
            try:
                yield Services(proxy)
            except (RpcTimeout, BrokerUnavailable, *CONNECTION_LOST) as err:
                # the reply may still come, or the connection is gone: never reuse it
                with contextlib.suppress(Exception):
                    runner.stop()
                if isinstance(err, BROKER_LOST):
                    raise BrokerUnavailable(str(err)) from err
                raise
            except BaseException:
                self._lend_again(runner, proxy)
                raise
            else:
                self._lend_again(runner, proxy)

    def _lend_again(self, runner, proxy) -> None:
        """Back to the pool, without the calls its borrower sent and never waited for (a
        page that stopped at an error after asking several questions at once): the
        listener would keep them, and their replies, for the client's whole life. A reply
        that comes for one now is dropped."""
        runner.reply_listener.pending.clear()
        runner.publisher.forget_refusals()
        self._idle.put((runner, proxy))

    def close(self) -> None:
        while True:
            try:
                runner, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                runner.stop()


def wire(arguments: dict) -> dict:
    """Keyword arguments as they cross: an Actor goes as the dict its contract describes."""
    return {
        name: value.to_wire() if isinstance(value, Actor) else value
        for name, value in arguments.items()
    }


class Services:
    """The services as the gateway calls them: `services.intake.get_deposit(actor=g.actor, ...)`,
    or `.call_async(...)`; typed arguments are put on the wire on the way."""

    def __init__(self, proxy) -> None:
        self._proxy = proxy

    def __getattr__(self, service: str) -> _Service:
        return _Service(getattr(self._proxy, service), service)


class _Service:
    def __init__(self, proxy, name: str) -> None:
        self._proxy = proxy
        self._name = name

    def __getattr__(self, method: str) -> _Method:
        return _Method(getattr(self._proxy, method), self._name, method)


class CallKeys:
    """The keys of one request's calls, from what identifies the request (its caller and
    Idempotency-Key): a retry of the request, on any gateway worker, sends each call with
    the key it had the first time, so the service applies it once. The n-th call of a
    method in the request is keyed by n, as a request makes its calls in one order."""

    def __init__(self, *request_ids: str) -> None:
        self._base = "\0".join(request_ids)
        self._made: Counter[str] = Counter()

    def next(self, method: str) -> str:
        self._made[method] += 1
        text = f"{self._base}\0{method}\0{self._made[method]}"
        return hashlib.sha256(text.encode()).hexdigest()


# the keys of the calls made for one campus system's request (gateway/campus/requests.py),
# in a web request or in the inbox worker: they outrank a web request's own
request_keys: contextvars.ContextVar[CallKeys | None] = contextvars.ContextVar(
    "request_keys", default=None
)


@contextlib.contextmanager
def keyed(method: str):
    keys = request_keys.get() or (g.get("call_keys") if has_request_context() else None)
    token = sending_key.set(keys.next(method) if keys is not None else None)
    try:
        yield
    finally:
        sending_key.reset(token)


class _Method:
    """One RPC method; a call is a client span (for `call_async`, the sending only), and
    timed."""

    def __init__(self, proxy, service: str, method: str) -> None:
        self._proxy = proxy
        self._labels = (service, method)

    def __call__(self, **arguments):
        identifier = self._proxy.identifier
        timer = GATEWAY_RPC_SECONDS.labels(*self._labels).time()
        with span(f"{identifier} call", SpanKind.CLIENT), keyed(identifier), timer:
            return self._proxy(**wire(arguments))

    def call_async(self, **arguments):
        identifier = self._proxy.identifier
        with span(f"{identifier} call", SpanKind.CLIENT), keyed(identifier):
            return self._proxy.call_async(**wire(arguments))


def rpc():
    """A client lent by the app's pool, the one way a request reaches the services:
    `with rpc() as services: services.intake.get_deposit(...)`."""
    return current_app.extensions["lodge.rpc"].client()
