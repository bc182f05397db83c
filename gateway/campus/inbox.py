"""The broker door: `lodge inbox` takes campus systems' requests from `lodge.inbox.requests`
and answers each on lodge.events under `system.<name>.reply`.

A message counts as its broker user's, named by the AMQP `user_id` property (RabbitMQ
refuses one that is not the connection's user); nothing in the message says who sent it.
It is a CloudEvent in the AMQP binding's structured mode (`application/cloudevents+json`,
the whole event in the body) or binary mode (the attributes as `cloudEvents_`,
`cloudEvents:` or `ce_` headers, the data in the body).

Each message is settled in one order: carried out (gateway/campus/requests.py, which keeps
its reply), its reply published with a confirm, a refused one also copied to the
dead-letter queue with the reason, and only then acked. A worker that dies in between
leaves the message to be delivered again, and the same request gets its kept reply again:
a second reply, never a lost one, and one deposit. A fault (a service, the broker or the
database not answering) returns the message to the queue after a pause; the queue's
delivery limit dead-letters one that never gets through.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Connection, Consumer, Producer
from kombu.exceptions import OperationalError

from gateway.campus import systems
from gateway.campus.requests import (
    PERSON_EVENTS,
    Backend,
    Request,
    handle,
    refused,
    reply_event,
)
from gateway.http.security import MAX_JSON_DEPTH, json_depth
from gateway.rpc import RpcPool
from kernel.contracts.campus import DEPOSIT_REQUESTED, Topic, system_key
from kernel.contracts.exceptions import Forbidden, InvalidInput, LodgeError, TooLarge
from kernel.platform import metrics
from kernel.platform.config import Settings
from kernel.platform.db import Database
from kernel.platform.messaging import (
    CLOUDEVENTS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    ERROR_HEADER,
    INBOX_PROCESS,
    inbox_queue,
)
from kernel.platform.observability import CORRELATION_KEY, correlated

log = logging.getLogger(__name__)

STRUCTURED = "application/cloudevents+json"
# the AMQP binding's prefixes (cloudEvents_ now, cloudEvents: before) and the one of the
# Kafka and Solace bindings that some clients send over AMQP too
PREFIXES = ("cloudEvents_", "cloudEvents:", "ce_")
JSON_TYPES = ("application/json", "text/json")
TOPIC_TYPES = {Topic.DEPOSIT: {DEPOSIT_REQUESTED}, Topic.PERSON: set(PERSON_EVENTS)}
CONNECTION_LOST = (AmqpConnectionError, OperationalError, OSError)
FAULT_PAUSE = (1.0, 30.0)  # first and longest pause before a request that hit a fault returns


def read_event(
    body: bytes, content_type: str | None, headers: dict[str, Any], max_bytes: int
) -> tuple[dict[str, Any], LodgeError | None]:
    """A message's CloudEvent: its attributes with `data`, and what makes it unusable (or
    None). The attributes found are returned either way, for the refusal's reply."""
    attributes: dict[str, Any] = {}
    media_type = (content_type or "").split(";")[0].strip().lower()
    binary = {
        name[len(prefix) :].lower(): value
        for name, value in headers.items()
        for prefix in PREFIXES
        if isinstance(name, str) and name.startswith(prefix)
    }
    if media_type != STRUCTURED:
        attributes.update(binary)
    if len(body) > max_bytes:
        return attributes, TooLarge(
            f"A request may have at most {max_bytes} bytes.",
            fields={"body": [f"larger than {max_bytes} bytes"]},
        )
    if media_type != STRUCTURED and not binary:
        return attributes, InvalidInput(
            f"The message is no CloudEvent: send it as {STRUCTURED} or with cloudEvents_ headers.",
            fields={"content_type": ["not a CloudEvent"]},
        )
    if media_type == STRUCTURED or media_type in JSON_TYPES or not media_type:
        problem, document = parse_json(body)
        if problem is not None:
            return attributes, problem
    else:
        return attributes, InvalidInput(
            "The event's data must be JSON.", fields={"datacontenttype": ["not JSON"]}
        )
    if media_type == STRUCTURED:
        if not isinstance(document, dict):
            return attributes, InvalidInput(
                "A structured CloudEvent is a JSON object.", fields={"body": ["not an object"]}
            )
        attributes.update(document)
        if "data_base64" in document:
            return attributes, InvalidInput(
                "The event's data must be JSON.", fields={"data_base64": ["not JSON data"]}
            )
    else:
        attributes["data"] = document
    wrong = {
        name: ["is required"]
        for name in ("id", "source", "type")
        if not isinstance(attributes.get(name), str) or not attributes[name]
    }
    if attributes.get("specversion") != "1.0":
        wrong["specversion"] = ["must be 1.0"]
    if wrong:
        return attributes, InvalidInput("The message is no CloudEvent 1.0.", fields=wrong)
    return attributes, None


def parse_json(body: bytes) -> tuple[LodgeError | None, Any]:
    if json_depth(body) > MAX_JSON_DEPTH:
        return InvalidInput(
            f"JSON may nest at most {MAX_JSON_DEPTH} levels.",
            fields={"body": [f"nests deeper than {MAX_JSON_DEPTH} levels"]},
        ), None
    try:
        return None, json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return InvalidInput(
            "The body is not valid JSON.", fields={"body": ["malformed JSON"]}
        ), None


def attribute(attributes: dict[str, Any], name: str) -> str:
    value = attributes.get(name)
    return value if isinstance(value, str) else ""


def topic_problem(system: systems.System, routing_key: str, event_type: str) -> LodgeError | None:
    """A request goes with `<its system>.<topic>`, and its type must be of that topic.
    (RabbitMQ lets a system publish only its own keys; this holds if its grant is wrong.)"""
    name, _, topic = routing_key.partition(".")
    if name != system.name or topic not in set(Topic):
        return Forbidden(
            "A system sends with its own routing keys only.",
            fields={"routing_key": [f"not {system.name}.<topic>"]},
        )
    if event_type not in TOPIC_TYPES[Topic(topic)]:
        return InvalidInput(
            f"This event type is not sent with the {topic} topic.",
            fields={"type": [f"not a {topic} event"]},
        )
    return None


class Inbox:
    """One worker: consumes with manual acks, handles one message at a time."""

    def __init__(self, settings: Settings):
        self.uri = settings.broker_uri(INBOX_PROCESS)
        self.max_bytes = settings.processes.inbox_max_bytes
        self.prefetch = settings.processes.inbox_prefetch
        self.database = Database(settings.database_url("gateway"), source=INBOX_PROCESS)
        self.pool = RpcPool(self.uri, 1, settings.processes.rpc_timeout)
        self.backend = Backend(self.database, self.pool.client)
        self.stopping = False
        self.pending: deque = deque()  # delivered, not started
        self.fault_pause = FAULT_PAUSE[0]
        self.liveness_file = settings.processes.liveness_file

    def stop(self, *_: object) -> None:
        """From a signal handler: the request being handled is finished, then the worker
        leaves; those delivered and not started go back to the queue."""
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        try:
            while not self.stopping:
                try:
                    self.consume()
                except CONNECTION_LOST as err:
                    self.pending.clear()  # unacked: the broker delivers them again
                    log.warning("inbox: broker connection lost, connecting again: %s", err)
                    self.pause()
        finally:
            self.pool.close()
            self.database.dispose()
            if self.liveness_file is not None:
                self.liveness_file.unlink(missing_ok=True)

    def alive(self) -> None:
        """Touch the liveness file (its probes, deploy/k8s) between requests: about every
        second while idle."""
        if self.liveness_file is not None:
            try:
                self.liveness_file.touch()
            except OSError:
                log.warning("cannot touch the liveness file %s", self.liveness_file, exc_info=True)

    def pause(self) -> None:
        deadline = time.monotonic() + self.fault_pause
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        self.fault_pause = min(self.fault_pause * 2, FAULT_PAUSE[1])

    def consume(self) -> None:
        with Connection(
            self.uri,
            transport_options={
                "confirm_publish": True,
                "client_properties": {"connection_name": "lodge-inbox"},
            },
        ) as connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            producer = Producer(connection.channel())
            consumer = Consumer(
                channel,
                queues=[inbox_queue()],
                on_message=self.pending.append,
                no_ack=False,
                prefetch_count=self.prefetch,
                auto_declare=False,  # lodge migrate declared it; this account only reads it
            )
            with consumer:
                log.info("inbox: consuming %s", inbox_queue().name)
                while not self.stopping:
                    self.alive()
                    if self.pending:
                        self.settle(self.pending.popleft(), producer)
                        continue
                    with contextlib.suppress(socket.timeout, TimeoutError):
                        connection.drain_events(timeout=1)

    def settle(self, message, producer: Producer) -> None:
        """Handle, reply, dead-letter a refusal, ack; a fault returns the message."""
        started = time.monotonic()
        properties = message.properties
        correlation = properties.get("correlation_id")
        with correlated({CORRELATION_KEY: correlation}):
            try:
                outcome = self.answer(message, producer)
            except CONNECTION_LOST:
                raise  # the connection is gone: nothing more can be settled on it
            except Exception:
                log.exception("inbox: the request could not be carried out; it goes back")
                metrics.INBOX_REQUESTS.labels("failed").inc()
                self.pause()
                message.requeue()
                return
            self.fault_pause = FAULT_PAUSE[0]
            metrics.INBOX_REQUESTS.labels(outcome).inc()
            metrics.INBOX_REQUEST_SECONDS.observe(time.monotonic() - started)
            message.ack()

    def answer(self, message, producer: Producer) -> str:
        """Carry out one message and publish what it needs; its outcome for the metrics."""
        properties, headers = message.properties, dict(message.headers or {})
        user = properties.get("user_id")
        with self.database.reading() as session:
            system = systems.by_broker_user(session, user) if isinstance(user, str) else None
        if system is None:
            reason = "no user_id" if not user else f"user {user!r} is no registered system"
            log.warning("inbox: a message nobody can be answered for: %s", reason)
            self.dead_letter(message, producer, f"refused: {reason}")
            return "dropped"
        attributes, problem = read_event(
            message.body, message.content_type, headers, self.max_bytes
        )
        routing_key = message.delivery_info.get("routing_key", "")
        problem = problem or topic_problem(system, routing_key, attribute(attributes, "type"))
        request = Request(
            system=system,
            type=attribute(attributes, "type"),
            source=attribute(attributes, "source"),
            id=attribute(attributes, "id"),
            data=attributes.get("data"),
            subject=attributes.get("subject")
            if isinstance(attributes.get("subject"), str)
            else None,
            correlation_id=properties.get("correlation_id") or None,
        )
        if problem is not None:
            reply = refused(
                {"source": request.source, "id": request.id, "type": request.type}, problem
            )
        else:
            reply = handle(request, self.backend)
        self.publish_reply(request, reply, producer)
        if reply["error"] is not None and not reply["duplicate"]:
            error = reply["error"]
            self.dead_letter(
                message,
                producer,
                f"refused ({error['code']}): {error['message']} {json.dumps(error['fields'])}",
                system.name,
            )
        log.info(
            "inbox: %s %s from %s: %s",
            request.type or "an event",
            request.id or "(no id)",
            system.name,
            "refused" if reply["error"] else reply["status"],
        )
        if reply["duplicate"]:
            return "duplicate"
        return "refused" if reply["error"] else "accepted"

    def publish_reply(self, request: Request, reply: dict, producer: Producer) -> None:
        event = reply_event(request, reply)
        producer.publish(
            json.dumps(event).encode(),
            exchange=CLOUDEVENTS_EXCHANGE,
            routing_key=system_key(request.system.name, "reply"),
            content_type="application/cloudevents+json",
            content_encoding="utf-8",
            serializer=None,
            correlation_id=event["correlationid"],
            delivery_mode=2,
            retry=False,
        )

    def dead_letter(self, message, producer: Producer, reason: str, system: str = "") -> None:
        headers = {
            **(message.headers or {}),
            ERROR_HEADER: reason[:4000],
            "x-lodge-queue": inbox_queue().name,
            "x-lodge-failed-at": datetime.now(UTC).isoformat(),
            "x-lodge-host": socket.gethostname(),
            "x-lodge-user-id": str(message.properties.get("user_id") or ""),
            "x-lodge-routing-key": message.delivery_info.get("routing_key", ""),
            **({"x-lodge-system": system} if system else {}),
        }
        producer.publish(
            message.body,
            exchange=DEAD_LETTER_EXCHANGE,
            routing_key=INBOX_PROCESS,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            correlation_id=message.properties.get("correlation_id"),
            message_id=message.properties.get("message_id"),
            serializer=None,
            mandatory=True,
            delivery_mode=2,
            retry=False,
        )
