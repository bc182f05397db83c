"""Reliable messaging for nameko services.

- `OutboxRelay` publishes what units of work committed, with publisher confirms.
- `handles_event` is nameko's event handler made safe: the payload is loaded through
  its contract, a handler that raises is retried with backoff and then dead-lettered
  with the reason kept, and a payload that breaks its contract (or that its handler
  refuses with `RefusedMessage`), or cannot be decoded at all, is dead-lettered at once.
- `rpc` is nameko's RPC entrypoint on a quorum queue; a call that writes is applied once,
  however often its request is delivered.
- Both consume through `DrainingConsumer`, so a stopping service acks what its last
  workers handled instead of leaving it to be delivered again.

Every queue a service consumes is a quorum queue (replicated, unlike a classic one), with
the arguments `lodge migrate` declares it with: nameko declares it again at every start,
and RabbitMQ refuses a declaration whose arguments differ.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import socket
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

from kombu import Connection, Exchange, Producer, Queue, binding
from kombu.exceptions import OperationalError
from kombu.utils import json as wire_json
from marshmallow import ValidationError
from nameko.amqp.consume import Consumer
from nameko.amqp.publish import Publisher, UndeliverableMessage
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import ContainerBeingKilled, MalformedRequest
from nameko.extensions import Entrypoint
from nameko.messaging import decode_from_headers, encode_to_headers
from nameko.rpc import ReplyListener, Rpc, RpcConsumer, get_rpc_exchange
from nameko.rpc import ServiceRpc as NamekoServiceRpc
from nameko.standalone.events import get_event_exchange
from opentelemetry.trace import SpanKind
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError

from kernel.contracts import campus, cloudevents
from kernel.contracts.events import event_schema
from kernel.contracts.exceptions import Conflict, LodgeError, RefusedMessage, Unavailable
from kernel.contracts.rpc import CALL_KEY_HEADER, CALL_KEY_LENGTH
from kernel.platform import metrics
from kernel.platform.config import broker_nodes, get_settings
from kernel.platform.db import Database, OutboxMessage, RepeatedCall
from kernel.platform.observability import (
    CORRELATION_KEY,
    TRACE_KEYS,
    Activity,
    correlated,
    deposit_id_in,
    outgoing_headers,
    span,
)
from kernel.policy.text import user_pattern

log = logging.getLogger(__name__)

# Declared by `lodge migrate` (lodge/topology.py), never by a service: its broker account
# may publish on these but not declare (nor so delete) them.
DEAD_LETTER_EXCHANGE = Exchange("lodge.dead-letter", type="direct", durable=True)
CLOUDEVENTS_EXCHANGE = Exchange("lodge.events", type="topic", durable=True)
# a topic exchange, so a broker account may be allowed only its own retry queues' keys
RETRY_EXCHANGE = Exchange("lodge.retry", type="topic", durable=True)
ATTEMPTS_HEADER = "x-lodge-attempts"
# nameko turns a request's headers into the worker's context data, without this prefix
CALL_HEADER = "nameko.lodge-call"
ERROR_HEADER = "x-lodge-error"


# deliveries of one copy of a message (a worker that dies before settling it returns it)
# before the broker dead-letters it: a last line behind LODGE_HANDLER_MAX_ATTEMPTS, whose
# retries are new copies. A constant: RabbitMQ refuses to redeclare a queue with another.
DELIVERY_LIMIT = 20
QUORUM = {"x-queue-type": "quorum"}
# the broker keeps a message it dead-letters until the target queue has confirmed it;
# RabbitMQ allows that only with reject-publish overflow
AT_LEAST_ONCE = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


def consumed_queue_arguments(service_name: str) -> dict:
    """Of the queues a service consumes: a message delivered DELIVERY_LIMIT times without
    being settled goes to the service's dead-letter queue (reason `delivery_limit`)."""
    return {
        **QUORUM,
        **AT_LEAST_ONCE,
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
        "x-dead-letter-routing-key": service_name,
    }


def rpc_queue(service_name: str) -> Queue:
    return Queue(
        f"rpc-{service_name}",
        exchange=get_rpc_exchange(),
        routing_key=f"{service_name}.*",
        durable=True,
        queue_arguments=consumed_queue_arguments(service_name),
    )


def dead_letter_queue(service_name: str) -> Queue:
    """Where a service's failed messages stay until an operator takes them; no delivery
    limit and no dead-letter exchange of its own (RabbitMQ 4 sets a limit of 20 anyway:
    a dead letter read and returned that often is dropped, so take them with an ack)."""
    return Queue(
        f"lodge.dead-letter.{service_name}",
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=service_name,
        durable=True,
        queue_arguments=QUORUM,
    )


# campus systems' requests (gateway/campus/inbox.py): `<system>.<topic>` on lodge.inbox, into
# one queue the inbox workers consume; what they cannot take goes to the dead-letter queue
# of the process "inbox"
INBOX_EXCHANGE = Exchange(campus.INBOX_EXCHANGE, type="topic", durable=True)
INBOX_PROCESS = "inbox"


def inbox_queue() -> Queue:
    return Queue(
        "lodge.inbox.requests",
        exchange=INBOX_EXCHANGE,
        bindings=[
            binding(INBOX_EXCHANGE, routing_key=campus.inbox_key("*", topic))
            for topic in campus.Topic
        ],
        durable=True,
        queue_arguments=consumed_queue_arguments(INBOX_PROCESS),
    )


def retry_delays(max_attempts: int, first_delay_ms: int) -> list[int]:
    """The wait before each retry, doubling: one per attempt that may fail and be retried."""
    return [first_delay_ms * 2**step for step in range(max_attempts - 1)]


def retry_queue(queue_name: str, delay_ms: int) -> Queue:
    """Messages wait here `delay_ms`, then go back to `queue_name`. One queue per delay:
    RabbitMQ expires messages only at a queue's head, so in a shared queue a short wait
    would end only after every longer one before it."""
    name = f"{queue_name}.retry.{delay_ms}ms"
    return Queue(
        name,
        exchange=RETRY_EXCHANGE,
        routing_key=name,
        durable=True,
        queue_arguments={
            **QUORUM,
            **AT_LEAST_ONCE,
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name,
        },
    )


def retry_queues(queue_name: str) -> list[Queue]:
    """The delay queues of `queue_name` the settings call for, shortest first."""
    processes = get_settings().processes
    return [
        retry_queue(queue_name, delay)
        for delay in retry_delays(processes.handler_max_attempts, processes.handler_retry_delay_ms)
    ]


def tracing_extensions(ids: dict | None) -> dict:
    """A worker's outgoing ids (observability.outgoing_headers) as CloudEvents extension
    attributes: `correlationid` and, by the Distributed Tracing extension, `traceparent`
    and `tracestate`."""
    return {
        cloudevents.CORRELATION_ID if key == CORRELATION_KEY else key: value
        for key, value in (ids or {}).items()
    }


def cloudevent(
    source_service: str, event_type: str, payload: dict, ids: dict | None = None
) -> dict:
    """The CloudEvents 1.0 JSON envelope campus systems receive on lodge.events
    (kernel/contracts/cloudevents.py)."""
    return cloudevents.lifecycle_event(
        get_settings().site.base_url,
        source_service,
        event_type,
        payload,
        tracing_extensions(ids),
    )


def reply_cloudevent(reply: dict, system: str, ids: dict | None = None) -> dict:
    """The CloudEvent answering a campus system's request (a ReplyData dump), to publish on
    lodge.events with the routing key `system_key(system, "reply")`."""
    return cloudevents.reply_event(
        get_settings().site.base_url,
        reply,
        system=system,
        event_id=uuid.uuid4().hex,
        time=datetime.now(UTC).isoformat(),
        extensions=tracing_extensions(ids),
    )


class Confirms:
    """The publishes on one channel in confirm mode that the broker has not confirmed yet,
    each kept with what its sender wants to know it by (`sent(key)`); the keys of those it
    refused (nacked) gather in `nacked`. Confirms arrive as the connection's events are
    read (`drain_events`), each for one delivery tag or for every tag up to it."""

    def __init__(self, channel) -> None:
        channel.confirm_select()
        channel.events["basic_ack"].add(self._acked)
        channel.events["basic_nack"].add(self._nacked)
        self._sent = 0  # delivery tags are counted per channel from 1
        self.waiting: dict[int, Any] = {}
        self.nacked: list[Any] = []

    def sent(self, key: Any = None) -> None:
        self._sent += 1
        self.waiting[self._sent] = key

    def _settled(self, tag: int, multiple: bool) -> list[Any]:
        if not multiple:
            return [self.waiting.pop(tag)] if tag in self.waiting else []
        done = [sent for sent in self.waiting if sent <= tag]
        return [self.waiting.pop(sent) for sent in done]

    def _acked(self, tag: int, multiple: bool) -> None:
        self._settled(tag, multiple)

    def _nacked(self, tag: int, multiple: bool) -> None:
        self.nacked += self._settled(tag, multiple)


class ConfirmedBatch:
    """Publishes on one channel in confirm mode without waiting after each message, then
    waits until the broker has confirmed every one: a round of the relay costs one round
    trip to the broker, not one per message (a quorum queue confirms after its write is
    replicated and synced, so a wait per message held each service to a few hundred
    messages a second). A nack, a closed channel or no confirm in time raises; the
    connection is then dropped and made again for the next batch."""

    confirm_timeout = 60.0

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._confirms: Confirms | None = None

    def _ready(self) -> tuple[Producer, Confirms]:
        if self._producer is None or self._confirms is None:
            connection = Connection(self.amqp_uri)
            channel = connection.channel()
            self._confirms = Confirms(channel)
            self._connection, self._producer = connection, Producer(channel, auto_declare=False)
        return self._producer, self._confirms

    def publish(self, body, **kwargs) -> None:
        """Send one persistent message (kombu's `Producer.publish` arguments)."""
        try:
            producer, confirms = self._ready()
            producer.publish(body, delivery_mode=2, retry=False, **kwargs)
        except Exception:
            self.reset()
            raise
        confirms.sent()

    def confirm(self) -> None:
        """Wait until the broker confirmed everything sent since the last `confirm`."""
        try:
            deadline = time.monotonic() + self.confirm_timeout
            while self._confirms is not None and self._confirms.waiting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._confirms.waiting)} messages not confirmed")
                assert self._connection is not None
                self._connection.drain_events(timeout=remaining)
            if self._confirms is not None and self._confirms.nacked:
                raise UndeliverableMessage("the broker refused (nacked) a message")
        except Exception:
            self.reset()
            raise

    def reset(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        self._confirms = None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # it is being dropped because it failed
                log.debug("closing a failed publishing connection", exc_info=True)


class OutboxRelay:
    """Publishes committed outbox rows, oldest first, and deletes them once confirmed.

    Rows are locked with SKIP LOCKED on PostgreSQL, so several instances of a
    service share the work without publishing a row twice at the same moment. A batch's
    messages are sent together and confirmed together (`ConfirmedBatch`); its rows are
    deleted only once all are confirmed. A crash between publish and delete publishes
    again: handlers are idempotent.
    """

    batch_size = 200

    def __init__(self, database: Database, service_name: str, amqp_uri: str):
        self.database = database
        self.service_name = service_name
        self.exchange = get_event_exchange(service_name)
        self.publisher = ConfirmedBatch(amqp_uri)

    def flush(self) -> int:
        published = 0
        while True:
            with self.database.unit_of_work() as uow:
                rows = uow.session.scalars(
                    select(OutboxMessage)
                    .order_by(OutboxMessage.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                ).all()
                for row in rows:
                    self.send(row.event_type, row.payload, row.headers)
                if rows:
                    self.publisher.confirm()
                    uow.session.execute(
                        delete(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                    )
            published += len(rows)
            if len(rows) < self.batch_size:
                return published

    def close(self) -> None:
        """Close the publishing connection (the service stops)."""
        self.publisher.reset()

    def publish(self, event_type: str, payload: dict, headers: dict | None = None) -> None:
        """Publish one event and wait for the broker's confirms."""
        self.send(event_type, payload, headers)
        self.publisher.confirm()

    def send(self, event_type: str, payload: dict, headers: dict | None = None) -> None:
        """`headers`: the emitting worker's ids (observability.outgoing_headers), passed on as
        nameko context data from a publish span of their trace. Confirmed by the batch."""
        with (
            correlated(headers),
            span(f"{self.service_name}.{event_type} publish", SpanKind.PRODUCER, headers or {}),
        ):
            ids = outgoing_headers()
            body = json.dumps(cloudevent(self.service_name, event_type, payload, ids)).encode()
            origin = cloudevents.origin_of(payload)
            if origin is not None:
                # first: where the broker account is not yet allowed these keys (`lodge
                # broker-users`), the broker closes the channel there, so nothing of the
                # row after it goes out and the row waits in the outbox
                self._publish_cloudevent(
                    body, cloudevents.system_routing_key(self.service_name, event_type, origin)
                )
            self.publisher.publish(
                payload,
                exchange=self.exchange,
                routing_key=event_type,
                serializer="json",
                headers=encode_to_headers(ids),
            )
        self._publish_cloudevent(body, f"{self.service_name}.{event_type}")

    def _publish_cloudevent(self, body: bytes, routing_key: str) -> None:
        self.publisher.publish(
            body,
            exchange=CLOUDEVENTS_EXCHANGE,
            routing_key=routing_key,
            content_type=cloudevents.CONTENT_TYPE,
            content_encoding="utf-8",
            serializer=None,
        )


def attempts_before(headers: dict) -> int:
    """The attempts a message's header counts; anyone who may publish the event sets
    headers, and a value that is no positive whole number counts none (it picks the
    delay queue, so it must be one of them)."""
    value = headers.get(ATTEMPTS_HEADER, 0)
    return value if type(value) is int and value > 0 else 0


class DrainingConsumer(Consumer):
    """nameko's consumer, made to stop without dropping an ack.

    nameko's closes its connection within a second of `stop()`, while the workers it fed
    still run: their acks go nowhere and RabbitMQ delivers those messages again (an RPC
    would run twice). This one cancels its subscription at `stop()` and keeps the
    connection until every message it handed out is acked or requeued; a message that
    arrives meanwhile goes back to its queue unstarted.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.draining = False
        self._subscriptions: list = []
        self._unsettled: set = set()

    def stop(self):
        # only the consumer's own thread may use its channel: on_iteration cancels
        self.draining = True

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self._subscriptions = consumers
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_iteration(self):
        if not self.draining:
            return
        for subscription in self._subscriptions:
            subscription.cancel()
        if not self._unsettled:
            self.should_stop = True

    def on_message(self, body, message):
        if self.draining:
            self.requeue_message(message)
            return
        self._unsettled.add(message)
        for callback in self.callbacks:
            callback(body, message)

    def ack_message(self, message):
        try:
            super().ack_message(message)
        finally:
            self._unsettled.discard(message)

    def requeue_message(self, message):
        try:
            super().requeue_message(message)
        finally:
            self._unsettled.discard(message)


class StartsWorkersWhileRunning(Entrypoint):
    """An entrypoint fed by a `DrainingConsumer`. nameko parks a message that finds every
    worker busy in a thread of its own until one is free; when the service stops, such a
    message goes back to its queue unstarted instead of being run on the way out (a worker
    spawned after the pool ran empty would also leave eventlet's `GreenPool.waitall`, and
    so nameko's stop, waiting forever)."""

    def setup(self):
        self._waiting: dict = {}
        super().setup()

    def requeue(self, message) -> None:
        raise NotImplementedError

    def start_worker(self, message, args, kwargs) -> None:
        container = self.container
        context_data = decode_from_headers(message.headers)
        handle_result = functools.partial(self.handle_result, message)

        def spawn_worker():
            try:
                container.spawn_worker(
                    self, args, kwargs, context_data=context_data, handle_result=handle_result
                )
            except ContainerBeingKilled:
                self.requeue(message)
            finally:
                self._waiting.pop(message, None)

        self._waiting[message] = container.spawn_managed_thread(
            spawn_worker, identifier=f"{self} waiting for a worker"
        )

    def stop(self):
        super().stop()
        waiting, self._waiting = self._waiting, {}
        if waiting:
            log.info("%s: %d message(s) go back to the queue unstarted", self, len(waiting))
        for message, waiter in waiting.items():
            waiter.kill()
            self.requeue(message)


class ServiceRpcConsumer(RpcConsumer):
    """nameko's RPC consumer, draining at stop and declaring `rpc-<service>` as
    `lodge migrate` does."""

    consumer_cls = DrainingConsumer

    def setup(self):
        super().setup()
        self.queue.queue_arguments = consumed_queue_arguments(self.container.service_name)


class DrainingRpc(StartsWorkersWhileRunning, Rpc):
    rpc_consumer = ServiceRpcConsumer()

    def handle_message(self, body, message):
        try:
            args, kwargs = body["args"], body["kwargs"]
        except KeyError:
            raise MalformedRequest("Message missing `args` or `kwargs`") from None
        self.check_signature(args, kwargs)
        self.start_worker(message, args, kwargs)

    def requeue(self, message):
        self.rpc_consumer.consumer.requeue_message(message)


class ReliableEventHandler(StartsWorkersWhileRunning, EventHandler):
    """A service-pool event handler that never drops a message."""

    consumer_cls = DrainingConsumer

    def __init__(self, source_service: str, event_type: str, **kwargs):
        super().__init__(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            requeue_on_error=False,
            **kwargs,
        )

    def setup(self):
        # kombu decodes before any handler runs; without this a body that is not JSON, or
        # comes with a content type nameko does not accept, would never reach one
        self.consumer_options["on_decode_error"] = self.handle_undecodable
        super().setup()
        # the consumer holds this very Queue, so it declares these arguments
        self.queue.queue_arguments = consumed_queue_arguments(self.container.service_name)
        settings = get_settings()
        self.max_attempts = settings.processes.handler_max_attempts
        self.contract = event_schema(self.source_service, self.event_type)
        self.retry_queues = retry_queues(self.queue.name)
        self.failure_publisher = Publisher(
            settings.broker_uri(self.container.service_name), use_confirms=True
        )
        metrics.prepare_service(self.container.service_name)

    def handle_message(self, body, message):
        try:
            payload = self.contract.load(body)
        except (ValidationError, TypeError) as err:
            reason = f"breaks the {self.source_service}.{self.event_type} contract: {err}"
            self._settle_failure(message, reason, retry=False, kind="contract")
            return
        self.start_worker(message, (payload,), {})

    def requeue(self, message):
        self.consumer.requeue_message(message)

    def handle_undecodable(self, message, error):
        reason = (
            f"cannot be decoded as {message.content_type or 'no content type'}: "
            f"{type(error).__name__}: {error}"
        )
        self._settle_failure(message, reason, retry=False, kind="undecodable")

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self.consumer.ack_message(message)
            return
        exc_type, exc, _ = exc_info
        reason = "".join(traceback.format_exception_only(exc_type, exc)).strip()
        refused = isinstance(exc, RefusedMessage)
        self._settle_failure(
            message, reason, retry=not refused, kind="refused" if refused else "failed"
        )

    def _settle_failure(self, message, reason: str, retry: bool, kind: str):
        headers = dict(message.headers or {})
        attempts = attempts_before(headers) + 1
        headers[ATTEMPTS_HEADER] = attempts
        retrying = retry and attempts < self.max_attempts
        try:
            if retrying:
                delay_queue = self.retry_queues[attempts - 1]
                log.warning(
                    "%s failed (attempt %d), retrying through %s: %s",
                    self.queue.name,
                    attempts,
                    delay_queue.name,
                    reason,
                )
                self.failure_publisher.publish(
                    message.body,
                    exchange=RETRY_EXCHANGE,
                    routing_key=delay_queue.routing_key,
                    headers=headers,
                    mandatory=True,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    serializer=None,
                )
            else:
                log.error(
                    "%s dead-lettered after %d attempt(s): %s", self.queue.name, attempts, reason
                )
                headers.update(
                    {
                        ERROR_HEADER: reason[:4000],
                        "x-lodge-queue": self.queue.name,
                        "x-lodge-failed-at": datetime.now(UTC).isoformat(),
                        "x-lodge-host": socket.gethostname(),
                    }
                )
                self.failure_publisher.publish(
                    message.body,
                    exchange=DEAD_LETTER_EXCHANGE,
                    routing_key=self.container.service_name,
                    headers=headers,
                    mandatory=True,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    serializer=None,
                )
        except Exception:
            log.exception("could not park the failed message; returning it to its queue")
            self.consumer.requeue_message(message)
            return
        metrics.settled_failure(self.container.service_name, self.event_type, retrying, kind)
        self.consumer.ack_message(message)


def handles_event(source_service: str, event_type: str, **kwargs):
    """A `ReliableEventHandler` entrypoint, its runs timed and counted (kernel/platform/metrics)."""
    entrypoint = ReliableEventHandler.decorator(source_service, event_type, **kwargs)

    def decorate(method):
        @functools.wraps(method)
        def handle(self, event):
            with metrics.handling(self.name, event_type):
                return method(self, event)

        return entrypoint(handle)

    return decorate


def worker_activity(worker_ctx) -> Activity:
    """The span and log ids of a nameko worker, from the headers its call or event came
    with (a timer's worker starts a trace of its own); begun."""
    entrypoint, service = worker_ctx.entrypoint, worker_ctx.service_name
    data = worker_ctx.context_data
    payload = worker_ctx.args[0] if worker_ctx.args else None
    if isinstance(entrypoint, EventHandler):
        name = f"{service} handles {entrypoint.source_service}.{entrypoint.event_type}"
        kind = SpanKind.CONSUMER
    elif isinstance(entrypoint, Rpc):
        name, kind = f"{service}.{entrypoint.method_name}", SpanKind.SERVER
    else:
        name, kind, data = f"{service}.{entrypoint.method_name}", SpanKind.INTERNAL, {}
    activity = Activity(
        name,
        kind,
        headers=data,
        correlation=data.get(CORRELATION_KEY),
        deposit_id=deposit_id_in(worker_ctx.kwargs, payload),
        attributes={"lodge.service": service},
    ).begin()
    # what this worker calls (ServiceRpc) carries its ids, never the ones it was handed
    for key in TRACE_KEYS:
        worker_ctx.context_data.pop(key, None)
    worker_ctx.context_data.update(outgoing_headers())
    return activity


class ReplyingRpc(DrainingRpc):
    """nameko's RPC entrypoint, except that a reply the broker will not take (the caller's
    reply queue went with a stopped node) is logged and the request acknowledged: nameko
    lets that error kill the whole service. The caller waits out its timeout.

    A request is acknowledged after its reply, so one whose connection broke while it ran
    (its node stopped, its service was killed) is delivered again: its key goes to the
    worker (as context data) for `Store` to record with its writes and reply, and a repeat
    answers that reply. The key is the request's correlation id, or, when the caller sent
    one (CALL_KEY_HEADER: the gateway's, from an Idempotency-Key), that key made this method's."""

    def handle_message(self, body, message):
        # always this request's own key: one inherited from the caller's context is replaced
        message.headers[CALL_HEADER] = self.call_key(message)
        super().handle_message(body, message)

    @staticmethod
    def call_key(message) -> str:
        # taken out: the calls the worker makes get keys of their own
        asked = message.headers.pop(CALL_KEY_HEADER, None)
        if isinstance(asked, str) and 0 < len(asked) <= CALL_KEY_LENGTH:
            method = message.delivery_info["routing_key"]
            return hashlib.sha256(f"{method}\0{asked}".encode()).hexdigest()
        return message.properties.get("correlation_id")

    def handle_result(self, message, worker_ctx, result, exc_info):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except (OperationalError, UndeliverableMessage) as err:
            log.warning(
                "the reply to %s could not be sent: %r", message.properties.get("reply_to"), err
            )
            self.rpc_consumer.consumer.ack_message(message)
            return result, exc_info


def replicated_on_a_cluster(queue_arguments: dict, amqp_uri: str) -> None:
    """A reply queue is a quorum queue when `amqp_uri` lists several nodes: a classic one
    lives on one node, and when that node stops the caller can neither declare it again
    nor get the replies sent to it; a quorum queue goes on on the other nodes."""
    if len(broker_nodes(amqp_uri)) > 1:
        queue_arguments["x-queue-type"] = "quorum"


class ReplicatedReplyListener(ReplyListener):
    def setup(self):
        super().setup()
        replicated_on_a_cluster(self.queue.queue_arguments, self.amqp_uri)


class ServiceRpc(NamekoServiceRpc):
    """nameko's RPC client for one service, its reply queue replicated on a cluster."""

    reply_listener = ReplicatedReplyListener()


def rpc(method):
    """nameko's RPC entrypoint, with domain errors marked as the caller's doing (expected).

    A call that writes is applied once: its writes commit in one transaction with its key
    and reply, and a delivery of the same call again (its ack was lost) answers the stored
    reply without running. A call that only read, and failed because its database
    connection died under it, is run once more on a fresh connection; one that wrote
    answers `Unavailable` (nothing of it committed)."""

    def run(self, *args, **kwargs):
        store = getattr(self, "store", None)
        if store is None:
            return method(self, *args, **kwargs)
        with store.tracking_writes() as tracker:
            try:
                result = method(self, *args, **kwargs)
            except RepeatedCall as repeated:
                if repeated.reply is None:
                    log.warning("%s was delivered again (request %s)", method.__name__, repeated)
                    raise Conflict(
                        "This request was carried out already; its answer was lost."
                    ) from None
                log.info(
                    "%s was delivered again (request %s); answering its first reply",
                    method.__name__,
                    repeated,
                )
                return wire_json.loads(repeated.reply)
            except DBAPIError as err:
                if not err.connection_invalidated:
                    raise
                if tracker.wrote:
                    log.warning("%s lost its database connection: %s", method.__name__, err.orig)
                    raise Unavailable("The database connection failed; try again.") from None
                log.warning(
                    "%s lost its database connection; reading again: %s", method.__name__, err.orig
                )
            else:
                store.finish_call(tracker, wire_json.dumps(result))
                return result
        return method(self, *args, **kwargs)

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with metrics.serving_rpc(self.name, method.__name__, LodgeError):
            return run(self, *args, **kwargs)

    return ReplyingRpc.decorator(expected_exceptions=LodgeError)(call)


class QuietExpectedErrors(logging.Filter):
    """nameko logs expected errors with their traceback; a refused request is not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("(expected)"):
            record.exc_info, record.exc_text = None, None
        return True


# user:password@ in a broker URL; neither part holds a raw ':' or '/' (both are escaped)
BROKER_PASSWORD = user_pattern(r"(amqps?://[^:/@;\s]*:)[^:/@;\s]*@")


class HiddenBrokerPasswords(logging.Filter):
    """nameko hides the password of only the first URL of a cluster's list in its logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = BROKER_PASSWORD.sub(r"\1********@", message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


def hide_broker_passwords() -> None:
    """On the logger nameko reports connection failures with (the URL list included)."""
    logger = logging.getLogger("nameko.amqp.consume")
    if not any(isinstance(found, HiddenBrokerPasswords) for found in logger.filters):
        logger.addFilter(HiddenBrokerPasswords())
