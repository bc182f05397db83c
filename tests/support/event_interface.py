"""Checking events against the documented event interface: the AsyncAPI document against
the official AsyncAPI 3.0.0 JSON Schema (vendored from the `@asyncapi/specs` npm package,
Apache-2.0: no PyPI package carries it), and each CloudEvent against its message there, read
first by the CloudEvents SDK as an independent reader.

`EventCapture` watches a LodgeSystem's lodge.events from its start (a queue bound with `#`,
left to fill on the broker while the tests run) and checks what it holds when the system
stops: tests/e2e/conftest.py attaches one to every system of the e2e session.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cloudevents.core.bindings.amqp import AMQPMessage, from_structured_event
from jsonschema import Draft7Validator
from kombu import Connection, Exchange, Queue

ASYNCAPI_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "asyncapi" / "3.0.0.json"
CAPTURE_QUEUE = "tests.event-interface-capture"
CAPTURE_LIMIT = 200_000  # messages kept per system; more would mean a runaway publisher
MAX_PROBLEMS = 20  # reported per system, beside the count


@cache
def asyncapi_validator() -> Draft7Validator:
    return Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))


def document_problems(document: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
        for error in asyncapi_validator().iter_errors(document)
    ]


class EventChecker:
    """Checks structured CloudEvents as published on lodge.events against `document`."""

    def __init__(self, document: dict):
        self.document = document
        self.by_type = {
            message["name"]: name for name, message in document["components"]["messages"].items()
        }
        self._validators: dict[str, Draft7Validator] = {}

    def _validator(self, message: str) -> Draft7Validator:
        """The message's payload schema, its references resolved within the document
        (a draft-7 `$ref` beside the document's own keys: the keys are ignored)."""
        if message not in self._validators:
            root = copy.copy(self.document)
            root["$ref"] = f"#/components/messages/{message}/payload"
            self._validators[message] = Draft7Validator(root)
        return self._validators[message]

    def problems(
        self, body: bytes, content_type: str | None, routing_key: str | None = None
    ) -> list[str]:
        """What breaks the interface in one message; a `system.<name>.…` key must go with
        an event naming that system."""
        if content_type != "application/cloudevents+json":
            return [f"content type {content_type!r}, not a structured CloudEvent"]
        try:
            event = from_structured_event(AMQPMessage({"content-type": content_type}, {}, body))
        except Exception as err:  # noqa: BLE001 - whatever the SDK refuses is the finding
            return [f"the CloudEvents SDK cannot read it: {type(err).__name__}: {err}"]
        kind = event.get_type()
        if kind not in self.by_type:
            return [f"{kind}: no message of this type in the AsyncAPI document"]
        data = json.loads(body)
        found = [
            f"{kind} {event.get_id()}: {'/'.join(map(str, error.absolute_path))}: "
            f"{error.message[:300]}"
            for error in self._validator(self.by_type[kind]).iter_errors(data)
        ]
        if routing_key and routing_key.startswith("system."):
            system = routing_key.split(".")[1]
            if data.get("lodgesystem") != system:
                found.append(f"{kind} {event.get_id()}: on {routing_key} but not about {system}")
        return found


@dataclass
class Captured:
    label: str
    seen: int = 0
    types: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0


class EventCapture:
    """A LodgeSystem observer: binds a queue to lodge.events `#` when the system's vhost is
    made, and checks every message in it before the vhost goes."""

    def __init__(self, checker: EventChecker):
        self.checker = checker
        self.captured: list[Captured] = []

    @staticmethod
    def _queue(system) -> Queue:
        return Queue(
            CAPTURE_QUEUE,
            exchange=Exchange("lodge.events", type="topic", durable=True),
            routing_key="#",
            durable=True,
            # replicated where the system runs on a cluster whose nodes the tests stop
            queue_arguments={
                "x-max-length": CAPTURE_LIMIT,
                "x-queue-type": "quorum" if system.cluster else "classic",
            },
        )

    def started(self, system) -> None:
        queue = self._queue(system)
        with Connection(system.amqp_uri) as connection:
            channel = connection.channel()
            queue.exchange(channel).declare()  # as `lodge migrate` declares it
            queue(channel).declare()

    def stopping(self, system) -> None:
        captured = Captured(system.label)
        with Connection(system.amqp_uri) as connection:
            queue = self._queue(system)(connection.channel())
            while (message := queue.get(no_ack=True)) is not None:
                captured.seen += 1
                key = message.delivery_info.get("routing_key")
                problems = self.checker.problems(message.body, message.content_type, key)
                if problems:
                    captured.problem_count += 1
                    if len(captured.problems) < MAX_PROBLEMS:
                        captured.problems += [f"[{key}] {problem}" for problem in problems]
                else:
                    captured.types.add(json.loads(message.body)["type"])
        self.captured.append(captured)

    def report(self) -> list[str]:
        return [
            f"{captured.label}: {captured.problem_count} of {captured.seen} events break the "
            "event interface:\n  " + "\n  ".join(captured.problems)
            for captured in self.captured
            if captured.problem_count
        ]
