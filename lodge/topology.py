"""Broker topology, declared before any service publishes.

A message published to an exchange with no queue bound is dropped, so every event
queue (with its retry queue) and every dead-letter queue is declared up front by
`lodge migrate`, not only when a consumer first starts.

The same introspection says what each service consumes, serves and calls, which is what
its broker account is allowed (lodge/broker_users.py).
"""

from __future__ import annotations

from kombu import Connection, Exchange, Queue
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc, ServiceRpc, get_rpc_exchange

from kernel.platform.messaging import (
    CLOUDEVENTS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    RETRY_EXCHANGE,
    ReliableEventHandler,
    dead_letter_queue,
    retry_queue,
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
    its event queues, their retry queues and its dead-letter queue."""
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
        for cls in classes:
            dead_letter_queue(cls.name)(channel).declare()
            for queue in event_queues(cls):
                queue(channel).declare()
                retry_queue(queue.name)(channel).declare()
                declared.append(queue.name)
    return declared
