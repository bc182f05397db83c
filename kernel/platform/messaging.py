"""Reliable messaging for nameko services.

- `OutboxRelay` publishes what units of work committed, with publisher confirms.
- `handles_event` is nameko's event handler made safe: the payload is loaded through
  its contract, a handler that raises is retried with backoff and then dead-lettered
  with the reason kept, and a payload that breaks its contract (or that its handler
  refuses with `RefusedMessage`), or cannot be decoded at all, is dead-lettered at once.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import traceback
from datetime import UTC, datetime

from kombu import Exchange, Queue
from marshmallow import ValidationError
from nameko.amqp.publish import Publisher
from nameko.events import SERVICE_POOL, EventHandler
from nameko.rpc import rpc as nameko_rpc
from nameko.standalone.events import get_event_exchange
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from kernel.contracts.events import event_schema
from kernel.contracts.exceptions import LodgeError, RefusedMessage
from kernel.platform import metrics
from kernel.platform.config import get_settings
from kernel.platform.db import Database, OutboxMessage

log = logging.getLogger(__name__)

# Declared by `lodge migrate` (lodge/topology.py), never by a service: its broker account
# may publish on these but not declare (nor so delete) them.
DEAD_LETTER_EXCHANGE = Exchange("lodge.dead-letter", type="direct", durable=True)
CLOUDEVENTS_EXCHANGE = Exchange("lodge.events", type="topic", durable=True)
# a topic exchange, so a broker account may be allowed only its own retry queues' keys
RETRY_EXCHANGE = Exchange("lodge.retry", type="topic", durable=True)
ATTEMPTS_HEADER = "x-lodge-attempts"
ERROR_HEADER = "x-lodge-error"


def dead_letter_queue(service_name: str) -> Queue:
    return Queue(
        f"lodge.dead-letter.{service_name}",
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=service_name,
        durable=True,
    )


def retry_queue(queue_name: str) -> Queue:
    """Messages wait here for their backoff, then go back to `queue_name`."""
    return Queue(
        f"{queue_name}.retry",
        exchange=RETRY_EXCHANGE,
        routing_key=f"{queue_name}.retry",
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name,
        },
    )


def cloudevent(source_service: str, event_type: str, payload: dict) -> dict:
    """The CloudEvents 1.0 JSON envelope campus systems receive on lodge.events."""
    return {
        "specversion": "1.0",
        "id": payload["event_id"],
        "source": f"/lodge/{source_service}",
        "type": f"edu.lodge.{event_type}",
        "subject": f"deposits/{payload['deposit_id']}",
        "time": payload["occurred_at"],
        "datacontenttype": "application/json",
        "dataschema": f"urn:lodge:contract:{payload['schema_version']}",
        "data": payload,
    }


class OutboxRelay:
    """Publishes committed outbox rows, oldest first, and deletes them once confirmed.

    Rows are locked with SKIP LOCKED on PostgreSQL, so several instances of a
    service share the work without publishing a row twice at the same moment.
    A crash between publish and delete publishes again: handlers are idempotent.
    """

    batch_size = 200

    def __init__(self, database: Database, service_name: str, amqp_uri: str):
        self.database = database
        self.service_name = service_name
        self.exchange = get_event_exchange(service_name)
        self.publisher = Publisher(amqp_uri, use_confirms=True)

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
                    self.publish(row.event_type, row.payload)
                    uow.session.delete(row)
            published += len(rows)
            if len(rows) < self.batch_size:
                return published

    def publish(self, event_type: str, payload: dict) -> None:
        self.publisher.publish(payload, exchange=self.exchange, routing_key=event_type)
        body = json.dumps(cloudevent(self.service_name, event_type, payload)).encode()
        self.publisher.publish(
            body,
            exchange=CLOUDEVENTS_EXCHANGE,
            routing_key=f"{self.service_name}.{event_type}",
            content_type="application/cloudevents+json",
            content_encoding="utf-8",
            serializer=None,
        )


class ReliableEventHandler(EventHandler):
    """A service-pool event handler that never drops a message."""

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
        settings = get_settings()
        self.max_attempts = settings.processes.handler_max_attempts
        self.retry_delay_ms = settings.processes.handler_retry_delay_ms
        self.contract = event_schema(self.source_service, self.event_type)
        self.retry_queue = retry_queue(self.queue.name)
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
        super().handle_message(payload, message)

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
        attempts = int(headers.get(ATTEMPTS_HEADER, 0)) + 1
        headers[ATTEMPTS_HEADER] = attempts
        retrying = retry and attempts < self.max_attempts
        try:
            if retrying:
                delay = self.retry_delay_ms * 2 ** (attempts - 1)
                log.warning(
                    "%s failed (attempt %d), retrying in %d ms: %s",
                    self.queue.name,
                    attempts,
                    delay,
                    reason,
                )
                self.failure_publisher.publish(
                    message.body,
                    exchange=RETRY_EXCHANGE,
                    routing_key=self.retry_queue.name,
                    headers=headers,
                    expiration=delay / 1000,
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


def rpc(method):
    """nameko's RPC entrypoint, with domain errors marked as the caller's doing (expected).

    A call that only read, and failed because its database connection died under it, is
    run once more on a fresh connection (one that wrote may have committed: never again)."""

    def run(self, *args, **kwargs):
        store = getattr(self, "store", None)
        if store is None:
            return method(self, *args, **kwargs)
        with store.tracking_writes() as tracker:
            try:
                return method(self, *args, **kwargs)
            except DBAPIError as err:
                if not err.connection_invalidated or tracker.wrote:
                    raise
                log.warning(
                    "%s lost its database connection; reading again: %s", method.__name__, err.orig
                )
        return method(self, *args, **kwargs)

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with metrics.serving_rpc(self.name, method.__name__, LodgeError):
            return run(self, *args, **kwargs)

    return nameko_rpc(expected_exceptions=LodgeError)(call)


class QuietExpectedErrors(logging.Filter):
    """nameko logs expected errors with their traceback; a refused request is not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("(expected)"):
            record.exc_info, record.exc_text = None, None
        return True
