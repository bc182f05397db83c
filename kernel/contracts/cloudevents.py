"""The event interface campus systems read and write: the CloudEvents 1.0 envelope of what
Lodge publishes on lodge.events (and answers on it), and the public name of each event.

Each published event has a stable reverse-DNS, versioned `type` (TYPES), a `source` URI per
service under the site's base URL, the deposit's or the item's id as `subject`, and as
`dataschema` the URL of the JSON Schema of its `data`, served by the gateway. The routing
keys stay `<service>.<event_type>`; an event about a deposit a campus system made also goes
out as `system.<system>.<service>.<event_type>`, with the extension attributes
`lodgesystem` and `lodgerequestid` naming the system and its request.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from kernel.contracts.campus import (
    DEPOSIT_REQUESTED,
    REQUEST_ACCEPTED,
    REQUEST_REFUSED,
    system_key,
)
from kernel.contracts.campus_people import PERSON_EVENT_TYPES
from kernel.contracts.events import CONTRACT_VERSION, EVENTS

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"  # a structured event, as published
DATA_CONTENT_TYPE = "application/json"
SCHEMA_PATH = "/schemas/events/"  # + `<type>.json`, on the gateway

# extension attributes (lower-case letters and digits, CloudEvents' rule)
CORRELATION_ID = "correlationid"
SYSTEM = "lodgesystem"
REQUEST_ID = "lodgerequestid"

_V = f"v{CONTRACT_VERSION}"

# (service, event_type) → type. A consumer keys on these, so a name here never changes; a
# contract change that is not an added optional field gets a new version (CONTRACT_VERSION).
TYPES: dict[tuple[str, str], str] = {
    ("intake", "deposit_submitted"): f"org.lodge.deposit.submitted.{_V}",
    ("intake", "deposit_withdrawn"): f"org.lodge.deposit.withdrawn.{_V}",
    ("intake", "deposit_status_changed"): f"org.lodge.deposit.status_changed.{_V}",
    ("intake", "draft_expiring"): f"org.lodge.deposit.draft_expiring.{_V}",
    ("validation", "deposit_validated"): f"org.lodge.deposit.validated.{_V}",
    ("approval", "deposit_approved"): f"org.lodge.deposit.approved.{_V}",
    ("approval", "deposit_declined"): f"org.lodge.deposit.declined.{_V}",
    ("approval", "deposit_returned"): f"org.lodge.deposit.returned.{_V}",
    ("inventory", "item_created"): f"org.lodge.item.created.{_V}",
    ("inventory", "fixity_failed"): f"org.lodge.item.fixity_failed.{_V}",
    ("inventory", "embargo_lifted"): f"org.lodge.item.embargo_lifted.{_V}",
    ("inventory", "item_withdrawn"): f"org.lodge.item.withdrawn.{_V}",
    ("inventory", "doi_sync_requested"): f"org.lodge.item.doi_sync_requested.{_V}",
    ("inventory", "item_corrected"): f"org.lodge.item.corrected.{_V}",
    ("letters", "letter_sent"): f"org.lodge.letter.sent.{_V}",
    ("letters", "letter_failed"): f"org.lodge.letter.failed.{_V}",
}
ITEM_TYPES = "org.lodge.item."  # their subject is the item, every other's the deposit

PERSON_TYPES = {kind: type_ for type_, kind in PERSON_EVENT_TYPES.items()}
REPLY_TYPES = (REQUEST_ACCEPTED, REQUEST_REFUSED)
INBOUND_TYPES = (DEPOSIT_REQUESTED, *PERSON_TYPES.values())
REPLY_SOURCE = "inbox"  # the replies' source: the part of Lodge that takes requests


def event_type(service: str, name: str) -> str:
    try:
        return TYPES[(service, name)]
    except KeyError:
        raise LookupError(f"no CloudEvents type for event {service}.{name}") from None


def source_uri(base_url: str, service: str) -> str:
    """An absolute URI per service, unique to the site: `<base URL>/lodge/<service>`."""
    return f"{base_url}/lodge/{service}"


def schema_url(base_url: str, cloudevent_type: str) -> str:
    return f"{base_url}{SCHEMA_PATH}{cloudevent_type}.json"


def _has_origin(schema: Schema) -> bool:
    return "origin" in schema.fields


def carries_origin(service: str, name: str) -> bool:
    """Whether the event's contract may carry the campus system's request that made the
    deposit (`origin`, or its `deposit` snapshot's), and so also go out for that system
    (system.<system>.<service>.<name>)."""
    schema = EVENTS[(service, name)]()
    deposit = schema.fields.get("deposit")
    return _has_origin(schema) or (
        isinstance(deposit, fields.Nested) and _has_origin(deposit.schema)
    )


def origin_of(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The campus request an event's deposit came from, if a system made it."""
    origin = payload.get("origin")
    if origin is None and isinstance(payload.get("deposit"), dict):
        origin = payload["deposit"].get("origin")
    return origin if isinstance(origin, dict) else None


def system_routing_key(service: str, name: str, origin: dict[str, Any]) -> str:
    return system_key(origin["system"], f"{service}.{name}")


def lifecycle_event(
    base_url: str,
    service: str,
    name: str,
    payload: dict[str, Any],
    extensions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The structured CloudEvent of one of Lodge's events (`payload`: its contract's dump);
    `extensions`: tracing attributes (`correlationid`, `traceparent`, `tracestate`)."""
    kind = event_type(service, name)
    subject = payload["item_id"] if kind.startswith(ITEM_TYPES) else payload["deposit_id"]
    event = {
        **(extensions or {}),
        "specversion": SPEC_VERSION,
        "id": payload["event_id"],
        "source": source_uri(base_url, service),
        "type": kind,
        "time": payload["occurred_at"],
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": schema_url(base_url, kind),
        "data": payload,
    }
    if subject:  # a letter about no deposit (a token's expiry) is about nothing in particular
        event["subject"] = subject
    origin = origin_of(payload)
    if origin is not None:
        event[SYSTEM] = origin["system"]
        event[REQUEST_ID] = origin["event_id"]
    return event


def reply_event(
    base_url: str,
    reply: dict[str, Any],
    *,
    system: str,
    event_id: str,
    time: str,
    extensions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The structured CloudEvent answering a system's request (`reply`: a ReplyData dump),
    published on lodge.events as system_key(system, "reply")."""
    kind = REQUEST_REFUSED if reply.get("error") else REQUEST_ACCEPTED
    event = {
        **(extensions or {}),
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": source_uri(base_url, REPLY_SOURCE),
        "type": kind,
        "time": time,
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": schema_url(base_url, kind),
        SYSTEM: system,
        REQUEST_ID: reply["request"]["id"],
        "data": reply,
    }
    if reply.get("deposit_id"):
        event["subject"] = reply["deposit_id"]
    return event
