"""Broker topology, declared before any service publishes.

A message published to an exchange with no queue bound is dropped, so every event
queue (with its retry queue) and every dead-letter queue is declared up front by
`lodge migrate`, not only when a consumer first starts.
"""
from __future__ import annotations

from kombu import Connection, Queue
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.standalone.events import get_event_exchange

from lodge.registry import SERVICE_CLASSES, service_class
from services.common.messaging import (CLOUDEVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE,
                                       dead_letter_queue, retry_queue)
from services.common.messaging import ReliableEventHandler


def event_queues(service_name: str) -> list[Queue]:
    """The queues nameko's service-pool handlers of `service_name` consume."""
    queues = []
    cls = service_class(service_name)
    for method_name in dir(cls):
        method = getattr(cls, method_name)
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, ReliableEventHandler):
                name = (f"evt-{entrypoint.source_service}-{entrypoint.event_type}"
                        f"--{service_name}.{method_name}")
                queues.append(Queue(name, exchange=get_event_exchange(entrypoint.source_service),
                                    routing_key=entrypoint.event_type, durable=True))
    return queues


def declare(amqp_uri: str) -> list[str]:
    declared = []
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        CLOUDEVENTS_EXCHANGE(channel).declare()
        DEAD_LETTER_EXCHANGE(channel).declare()
        for service_name in SERVICE_CLASSES:
            get_event_exchange(service_name)(channel).declare()
        for service_name in SERVICE_CLASSES:
            dead_letter_queue(service_name)(channel).declare()
            for queue in event_queues(service_name):
                queue(channel).declare()
                retry_queue(queue.name)(channel).declare()
                declared.append(queue.name)
    return declared
