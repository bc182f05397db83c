"""Broker topology, declared before any service publishes.

A message published to an exchange with no queue bound is dropped, so every event
queue (with its retry queues), every RPC queue and every dead-letter queue is declared
up front by `lodge migrate`, not only when a consumer first starts.

They are all quorum queues. A queue's type cannot change in place, so one left from
before as a classic queue (or with other arguments) is rebuilt: its messages wait in
`<queue>.moving` while it is deleted and declared anew, then move back. Every step can be
cut short and run again; the run after finishes the job.

The same introspection says what each service consumes, serves and calls, which is what
its broker account is allowed (lodge/broker_users.py).
"""

from __future__ import annotations

import amqp
from amqp.exceptions import AMQPNotImplementedError, NotFound, PreconditionFailed
from kombu import Connection, Exchange, Queue
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc, ServiceRpc, get_rpc_exchange

from kernel.platform.messaging import (
    CLOUDEVENTS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    INBOX_EXCHANGE,
    INBOX_PROCESS,
    QUORUM,
    RETRY_EXCHANGE,
    ReliableEventHandler,
    consumed_queue_arguments,
    dead_letter_queue,
    inbox_queue,
    retry_queues,
    rpc_queue,
)
from lodge.registry import SERVICE_CLASSES, service_class


def event_exchange(service_name: str) -> Exchange:
    """The exchange nameko publishes `service_name`'s events on, declared whatever nameko's
    DECLARE_EVENT_EXCHANGES says."""
    return Exchange(f"{service_name}.events", type="topic", durable=True)


def _entrypoints(cls):
    for method_name in dir(cls):
        for entrypoint in getattr(getattr(cls, method_name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            yield method_name, entrypoint


def event_queues(cls) -> list[Queue]:
    """The queues nameko's service-pool handlers of the service class `cls` consume."""
    queues = []
    for method_name, entrypoint in _entrypoints(cls):
        if isinstance(entrypoint, ReliableEventHandler):
            name = (
                f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{cls.name}.{method_name}"
            )
            queues.append(
                Queue(
                    name,
                    exchange=event_exchange(entrypoint.source_service),
                    routing_key=entrypoint.event_type,
                    durable=True,
                    queue_arguments=consumed_queue_arguments(cls.name),
                )
            )
    return queues


def serves_rpc(cls) -> bool:
    """Whether the service has RPC entrypoints, so an `rpc-<service>` queue."""
    return any(isinstance(entrypoint, Rpc) for _, entrypoint in _entrypoints(cls))


def rpc_targets(cls) -> set[str]:
    """The services whose RPC methods this one calls."""
    return {
        dependency.target_service
        for dependency in vars(cls).values()
        if isinstance(dependency, ServiceRpc)
    }


def declare(amqp_uri: str, classes=None) -> list[str]:
    """Declare the shared exchanges and, for each service class (default: Lodge's five),
    its dead-letter queue, its RPC queue, its event queues and their retry queues; rebuild
    those that exist with other arguments. Returns the event queues' names."""
    if classes is None:
        classes = [service_class(name) for name in SERVICE_CLASSES]
    declared = []
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        CLOUDEVENTS_EXCHANGE(channel).declare()
        DEAD_LETTER_EXCHANGE(channel).declare()
        RETRY_EXCHANGE(channel).declare()
        get_rpc_exchange()(channel).declare()
        for service_name in SERVICE_CLASSES:
            event_exchange(service_name)(channel).declare()
        INBOX_EXCHANGE(channel).declare()
        channel.close()
        declare_inbox(connection)
        for cls in classes:
            ensure(connection, dead_letter_queue(cls.name))
            if serves_rpc(cls):
                ensure(connection, rpc_queue(cls.name))
            for queue in event_queues(cls):
                ensure(connection, queue)
                for delay_queue in retry_queues(queue.name):
                    ensure(connection, delay_queue)
                retire_shared_retry_queue(connection, queue)
                declared.append(queue.name)
    return declared


def declare_inbox(connection: Connection) -> None:
    """The inbox's queue with its bindings (one per topic), and its dead-letter queue. It
    keeps the arguments it was first declared with: a queue of two bindings is not
    rebuilt the way `ensure` rebuilds one."""
    ensure(connection, dead_letter_queue(INBOX_PROCESS))
    with connection.channel() as channel:
        inbox_queue()(channel).declare()


def ensure(connection: Connection, queue: Queue) -> None:
    """Declare `queue` (bound); one there with other arguments is rebuilt, messages kept.

    While the old queue is emptied its binding moves to `<queue>.moving`, so what is
    published meanwhile waits there too. A message published at the moment the new
    queue is bound and the holding one not yet unbound arrives twice (handlers are
    idempotent); none is lost."""
    holding = Queue(
        f"{queue.name}.moving",
        exchange=queue.exchange,
        routing_key=queue.routing_key,
        durable=True,
        queue_arguments=QUORUM,
    )
    if not _declared(connection, queue):
        with connection.channel() as channel:
            holding(channel).declare()
            channel.queue_unbind(queue.name, queue.exchange.name, queue.routing_key)
        _empty_and_delete(connection, queue.name, holding.name)
        with connection.channel() as channel:
            queue(channel).declare()
    if _exists(connection, holding.name):
        with connection.channel() as channel:
            channel.queue_unbind(holding.name, queue.exchange.name, queue.routing_key)
        _empty_and_delete(connection, holding.name, queue.name)


def retire_shared_retry_queue(connection: Connection, queue: Queue) -> None:
    """`<queue>.retry`, where all retries of a queue used to wait behind each other:
    what still waits there goes back to `queue` at once."""
    shared = f"{queue.name}.retry"
    if _exists(connection, shared):
        with connection.channel() as channel:
            channel.queue_unbind(shared, RETRY_EXCHANGE.name, shared)
        _empty_and_delete(connection, shared, queue.name)


def _declared(connection: Connection, queue: Queue) -> bool:
    """Declare `queue`; False if it exists with other arguments (a classic queue)."""
    channel = connection.channel()
    try:
        queue(channel).declare()
    except PreconditionFailed:
        return False  # the broker closed the channel
    channel.close()
    return True


def _exists(connection: Connection, name: str) -> bool:
    channel = connection.channel()
    try:
        channel.queue_declare(name, passive=True)
    except NotFound:
        return False
    channel.close()
    return True


def _empty_and_delete(connection: Connection, source: str, target: str) -> int:
    """Move every message from `source` to `target` with publisher confirms, acking each
    only once confirmed, then delete `source` if it is still empty. A message that
    arrives before the delete is moved too. Returns how many moved."""
    moved = 0
    while True:
        with connection.channel() as channel:
            while (message := channel.basic_get(source)) is not None:
                # a TTL meant for the source queue would expire it in the target
                properties = {k: v for k, v in message.properties.items() if k != "expiration"}
                channel.basic_publish_confirm(
                    amqp.Message(message.body, **properties),
                    exchange="",
                    routing_key=target,
                    mandatory=True,
                )
                channel.basic_ack(message.delivery_tag)
                moved += 1
        if _delete_if_empty(connection, source):
            return moved


def _delete_if_empty(connection: Connection, name: str) -> bool:
    """Delete queue `name` unless a message is in it. A quorum queue refuses the if-empty
    flag (closing the whole connection, so it is tried on one of its own): its count is
    read just before instead. Nothing is routed to it by then (unbound), but a classic
    queue may still be sent messages by name (expiring retries), hence the flag."""
    with connection.clone() as trial:
        channel = trial.channel()
        try:
            channel.queue_delete(name, if_empty=True)
            return True
        except PreconditionFailed:
            return False
        except AMQPNotImplementedError:
            pass
    with connection.channel() as channel:
        if channel.queue_declare(name, passive=True).message_count:
            return False
        channel.queue_delete(name)
    return True
