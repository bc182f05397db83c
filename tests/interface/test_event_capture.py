"""The end-to-end sessions' check of lodge.events (tests/support/event_interface.py) on a real
broker: what a relay publishes passes, and a message off the interface is reported."""

import json
from types import SimpleNamespace

from kombu import Connection, Exchange

from gateway.campus.interface import asyncapi_document
from kernel.contracts.events import new_event
from kernel.platform.messaging import OutboxRelay
from tests.support.event_interface import EventCapture, EventChecker

PERSON = {"id": "u1", "name": "Pat", "email": "pat@example.org", "locale": "en"}
ORIGIN = {"system": "thesis-flow", "source": "urn:tf", "event_id": "t-1", "mode": "mediated"}


def test_the_capture_passes_lodges_events_and_reports_the_rest(broker):
    system = SimpleNamespace(label="capture", amqp_uri=broker["AMQP_URI"], cluster=None)
    capture = EventCapture(EventChecker(asyncapi_document()))
    capture.started(system)
    relay = OutboxRelay(None, "intake", broker["AMQP_URI"])
    for origin in (None, ORIGIN):
        relay.publish(
            "deposit_status_changed",
            new_event(
                "intake",
                "deposit_status_changed",
                deposit_id="d1",
                revision=1,
                to_status="approved",
                actor=PERSON,
                depositor=PERSON,
                origin=origin,
            ),
        )
    with Connection(broker["AMQP_URI"]) as connection:
        producer = connection.Producer(exchange=Exchange("lodge.events", type="topic"))
        forged = {"specversion": "1.0", "id": "x", "source": "/elsewhere", "type": "org.x.v1"}
        producer.publish(
            json.dumps(forged).encode(),
            routing_key="intake.deposit_status_changed",
            content_type="application/cloudevents+json",
            content_encoding="utf-8",
        )
    capture.stopping(system)
    [captured] = capture.captured
    assert captured.seen == 4  # one plain, one for the system twice, one forged
    assert captured.types == {"org.lodge.deposit.status_changed.v1"}
    [report] = capture.report()
    assert "1 of 4 events" in report and "org.x.v1: no message of this type" in report
