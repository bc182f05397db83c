"""The event interface as the gateway serves it: the AsyncAPI document, valid and covering
every event, and the JSON Schema each CloudEvent's `dataschema` names; events made by the
contracts validate against both."""

import copy
import json
import uuid
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from kernel.contracts import cloudevents
from kernel.contracts.campus import (
    DEPOSIT_REQUESTED,
    INBOX_EXCHANGE,
    REQUEST_ACCEPTED,
    REQUEST_REFUSED,
)
from kernel.contracts.cloudevents import CONTENT_TYPE
from kernel.contracts.events import EVENTS, new_event
from kernel.platform.messaging import cloudevent, reply_cloudevent
from tests.support.event_interface import EventChecker, document_problems

PERSON = {"id": "u1", "name": "Pat Doe", "email": "pat@example.org", "locale": "en"}
ORIGIN = {
    "system": "thesis-flow",
    "source": "urn:thesis-flow",
    "event_id": "t-17",
    "mode": "submit",
}


@pytest.fixture
def document(gateway_app):
    response = gateway_app.test_client().get("/api/v1/asyncapi.json")
    assert response.status_code == 200
    return response.get_json()


def status_changed(**extra):
    return new_event(
        "intake",
        "deposit_status_changed",
        deposit_id=uuid.uuid4().hex,
        revision=1,
        from_status="draft",
        to_status="submitted",
        actor=PERSON,
        depositor=PERSON,
        **extra,
    )


def body(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_the_asyncapi_document_is_valid_asyncapi_3(document):
    assert document["asyncapi"] == "3.0.0"
    assert document_problems(document) == []
    broken = copy.deepcopy(document)
    broken["channels"]["system.reply"]["bindings"]["amqp"]["exchange"]["type"] = "queue"
    del broken["operations"]["receive.deposit"]["action"]
    assert len(document_problems(broken)) == 2


def test_every_event_has_its_channel_and_message(document):
    messages = {m["name"]: m for m in document["components"]["messages"].values()}
    addresses = {
        channel["address"]: channel["bindings"]["amqp"]["exchange"]["name"]
        for channel in document["channels"].values()
    }
    for service, event in EVENTS:
        kind = cloudevents.event_type(service, event)
        assert kind in messages, kind
        assert addresses[f"{service}.{event}"] == "lodge.events"
        if cloudevents.carries_origin(service, event):
            assert addresses[f"system.{{system}}.{service}.{event}"] == "lodge.events"
    # the lifecycle a system follows, and what it sends and is answered
    assert "system.{system}.intake.deposit_status_changed" in addresses
    assert "system.{system}.approval.deposit_approved" in addresses  # by its deposit snapshot
    assert "system.{system}.inventory.item_created" not in addresses
    assert addresses["system.{system}.reply"] == "lodge.events"
    assert addresses["{system}.deposit"] == addresses["{system}.person"] == INBOX_EXCHANGE
    for kind in (
        DEPOSIT_REQUESTED,
        REQUEST_ACCEPTED,
        REQUEST_REFUSED,
        *cloudevents.PERSON_TYPES.values(),
    ):
        assert kind in messages, kind
    inbound = document["operations"]["receive.deposit"]
    assert inbound["action"] == "receive"
    assert inbound["bindings"]["amqp"]["userId"] == "campus-{system}"


def test_lodge_events_validate_against_their_messages(document):
    checker = EventChecker(document)
    plain = cloudevent(
        "intake", "deposit_status_changed", status_changed(), {"correlation_id": "c-1"}
    )
    followed = cloudevent("intake", "deposit_status_changed", status_changed(origin=ORIGIN))
    assert checker.problems(body(plain), cloudevents.CONTENT_TYPE) == []
    assert checker.problems(body(followed), cloudevents.CONTENT_TYPE) == []
    assert followed[cloudevents.SYSTEM] == "thesis-flow"
    assert followed[cloudevents.REQUEST_ID] == "t-17"

    accepted = reply_cloudevent(
        {
            "request": {"source": "urn:thesis-flow", "id": "t-17", "type": DEPOSIT_REQUESTED},
            "duplicate": False,
            "deposit_id": "d1",
            "status": "submitted",
            "outcome": None,
            "error": None,
        },
        "thesis-flow",
    )
    refused = reply_cloudevent(
        {
            "request": {"source": "urn:thesis-flow", "id": "t-18", "type": DEPOSIT_REQUESTED},
            "error": {"code": "forbidden", "message": "No.", "fields": {"profile_id": ["No."]}},
        },
        "thesis-flow",
    )
    assert (accepted["type"], refused["type"]) == (REQUEST_ACCEPTED, REQUEST_REFUSED)
    assert accepted["subject"] == "d1" and "subject" not in refused
    for reply in (accepted, refused):
        assert checker.problems(body(reply), cloudevents.CONTENT_TYPE) == []


def test_an_event_off_its_contract_or_the_spec_is_found(document):
    checker = EventChecker(document)
    event = cloudevent("intake", "deposit_status_changed", status_changed())
    wrong_data = {**event, "data": {**event["data"], "to_status": "lost"}}
    assert "to_status" in checker.problems(body(wrong_data), cloudevents.CONTENT_TYPE)[0]
    no_subject = {k: v for k, v in event.items() if k != "subject"}
    assert "subject" in checker.problems(body(no_subject), cloudevents.CONTENT_TYPE)[0]
    bad_extension = {**event, "Lodge-System": "x"}  # CloudEvents: lower-case letters, digits
    assert "SDK" in checker.problems(body(bad_extension), cloudevents.CONTENT_TYPE)[0]
    unknown = {**event, "type": "org.lodge.deposit.vanished.v1"}
    assert "no message" in checker.problems(body(unknown), cloudevents.CONTENT_TYPE)[0]
    assert checker.problems(body(event), "application/json") != []
    system_key = "system.thesis-flow.intake.deposit_status_changed"
    assert "not about thesis-flow" in checker.problems(body(event), CONTENT_TYPE, system_key)[0]
    followed = cloudevent("intake", "deposit_status_changed", status_changed(origin=ORIGIN))
    assert checker.problems(body(followed), CONTENT_TYPE, system_key) == []


def test_each_dataschema_is_served_and_validates_its_data(gateway_app):
    client = gateway_app.test_client()
    base_url = "http://127.0.0.1:8000"  # the tests' LODGE_BASE_URL default
    payload = status_changed(origin=ORIGIN)
    event = cloudevent("intake", "deposit_status_changed", payload)
    assert event["dataschema"].startswith(base_url)
    response = client.get(event["dataschema"].removeprefix(base_url))
    assert response.status_code == 200
    assert response.mimetype == "application/schema+json"
    schema = response.get_json()
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == event["dataschema"]
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(payload)) == []
    assert list(validator.iter_errors({**payload, "revision": "one"})) != []
    every = [*cloudevents.TYPES.values(), *cloudevents.REPLY_TYPES, *cloudevents.INBOUND_TYPES]
    for kind in every:
        served = client.get(f"/schemas/events/{kind}.json")
        assert served.status_code == 200, kind
        Draft202012Validator.check_schema(served.get_json())
    request_schema = client.get(f"/schemas/events/{DEPOSIT_REQUESTED}.json").get_json()
    Draft202012Validator(request_schema).validate(
        {"depositor": {"username": "pat"}, "profile_id": "thesis", "submit": True}
    )
    assert list(Draft202012Validator(request_schema).iter_errors({"profile_id": "thesis"}))


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/schemas/events/org.lodge.deposit.vanished.v1.json", 404),
        ("/schemas/events/" + "a" * 5000 + ".json", 404),
        ("/schemas/events/..%2F..%2Fetc%2Fpasswd.json", 404),
        ("/schemas/events/__class__.json", 404),
        ("/schemas/events/%00%1b.json", 422),  # the gateway refuses control characters anywhere
    ],
)
def test_no_schema_for_what_is_no_type(gateway_app, path, status):
    response = gateway_app.test_client().get(path, headers={"Accept": "application/json"})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] in ("not_found", "invalid_input")


def test_event_times_are_the_contract_times():
    payload = status_changed()
    event = cloudevent("intake", "deposit_status_changed", payload)
    assert datetime.fromisoformat(event["time"]).tzinfo is not None
    assert event["time"] == payload["occurred_at"] <= datetime.now(UTC).isoformat()
