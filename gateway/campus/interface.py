"""The event interface, described: a JSON Schema for the `data` of every CloudEvents type
Lodge publishes or takes (the `dataschema` of its events), and the AsyncAPI 3.0 document of
every channel and message, both made from the marshmallow contracts (apispec's converter,
which the OpenAPI document uses too).
"""

from __future__ import annotations

import copy
import inspect
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from kernel.contracts import cloudevents
from kernel.contracts.campus import (
    DEPOSIT_REQUESTED,
    INBOX_EXCHANGE,
    REQUEST_ACCEPTED,
    REQUEST_REFUSED,
    SYSTEM_NAME,
    DepositRequestData,
    ReplyData,
)
from kernel.contracts.events import EVENTS
from kernel.platform.messaging import CLOUDEVENTS_EXCHANGE

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING = "0.3.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMPONENTS = "#/components/schemas/"

# The `data` of the identity system's person events (kernel/contracts/campus_people.py), by
# hand: apispec cannot describe its "one of three keys" rule or its string-or-list values.
PERSON_EVENT_DATA: dict[str, Any] = {
    "type": "object",
    "required": ["person"],
    "properties": {
        "person": {
            "description": "who: issuer and subject (OpenID Connect or SAML), a username, "
            "or an e-mail address",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["issuer", "subject"],
                    "properties": {"issuer": {"type": "string"}, "subject": {"type": "string"}},
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "required": ["username"],
                    "properties": {"username": {"type": "string"}},
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "required": ["email"],
                    "properties": {"email": {"type": "string", "format": "email"}},
                    "additionalProperties": False,
                },
            ],
        },
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "attributes": {
            "description": "as OpenID Connect claims or SAML attributes "
            "(eduPersonAffiliation, eduPersonEntitlement, isMemberOf…): mapped to groups "
            "and roles like a sign-in's",
            "type": "object",
            "additionalProperties": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
        },
    },
    "additionalProperties": False,
}

SUMMARIES = {
    ("intake", "deposit_submitted"): "A deposit was submitted (or submitted again).",
    ("intake", "deposit_withdrawn"): "The depositor withdrew a deposit.",
    ("intake", "deposit_status_changed"): "A deposit moved from one status to another.",
    ("intake", "draft_expiring"): "An untouched draft will soon be removed with its files.",
    ("validation", "deposit_validated"): "A submitted deposit's files and metadata were checked.",
    ("approval", "deposit_approved"): "A reviewer approved a deposit.",
    ("approval", "deposit_declined"): "A reviewer declined a deposit.",
    ("approval", "deposit_returned"): "A reviewer returned a deposit for changes.",
    ("inventory", "item_created"): "An approved deposit became a repository item.",
    ("inventory", "fixity_failed"): "An item's file no longer matches its checksum.",
    ("inventory", "embargo_lifted"): "An item's embargo ended.",
    ("inventory", "item_withdrawn"): "A manager withdrew an item; a tombstone remains.",
    ("inventory", "doi_sync_requested"): "An item's metadata is due at DataCite.",
    ("inventory", "item_corrected"): "A manager corrected an archived item's metadata.",
    ("letters", "letter_sent"): "A letter (e-mail) about a deposit went out.",
    ("letters", "letter_failed"): "A letter about a deposit could not be sent.",
}

PERSON_SUMMARIES = {
    "created": "A person joined: Lodge provisions (or updates) their account.",
    "changed": "A person's groups or affiliation changed: their roles are mapped again.",
    "left": "A person left: their account is deactivated (sessions and tokens end, review "
    "claims are released); their deposits stay.",
}


def _component_name(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__.removesuffix("Schema") or cls.__name__


def _message_name(cloudevent_type: str) -> str:
    """`org.lodge.deposit.status_changed.v1` → `DepositStatusChanged`."""
    words = cloudevent_type.removeprefix("org.lodge.").rsplit(".", 1)[0]
    return "".join(part.capitalize() for part in words.replace("_", ".").split("."))


def _data_contracts() -> dict[str, type[Schema]]:
    """The marshmallow contract of each type's `data`, but the person events'."""
    contracts: dict[str, type[Schema]] = {
        cloudevents.TYPES[key]: schema for key, schema in EVENTS.items()
    }
    contracts[DEPOSIT_REQUESTED] = DepositRequestData
    contracts[REQUEST_ACCEPTED] = ReplyData
    contracts[REQUEST_REFUSED] = ReplyData
    return contracts


@cache
def _converted() -> tuple[dict[str, dict], dict[str, str]]:
    """Every contract as JSON Schema (OpenAPI 3.1's dialect is JSON Schema 2020-12): the
    components by name, and each type's component."""
    plugin = MarshmallowPlugin(schema_name_resolver=_component_name)
    spec = APISpec(title="Lodge events", version="1", openapi_version="3.1.0", plugins=[plugin])
    converter = plugin.converter
    assert converter is not None  # made by APISpec's init
    # JSON Schema has no format "url"; on a copy: apispec's mapping is shared by every spec
    converter.field_mapping = {**converter.field_mapping, fields.Url: ("string", "uri")}
    data_of: dict[str, str] = {}
    registered: set[type[Schema]] = set()
    for kind, contract in _data_contracts().items():
        name = _component_name(contract)
        if contract not in registered:
            spec.components.schema(name, schema=contract)
            registered.add(contract)
        data_of[kind] = name
    person = "PersonEventData"
    spec.components.schema(person, PERSON_EVENT_DATA)
    for kind in cloudevents.PERSON_TYPES.values():
        data_of[kind] = person
    components = spec.to_dict()["components"]["schemas"]
    # what a contract says in words (rules across fields: "exactly one of url, s3 or content")
    for key, name in converter.refs.items():
        if key[0].__doc__ and "description" not in components[name]:
            components[name]["description"] = inspect.cleandoc(key[0].__doc__)
    return components, data_of


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(COMPONENTS)} if "$ref" in node else set()
        for value in node.values():
            found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*map(_references, node)) if node else set()
    return set()


def _rebased(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {
            key: prefix + value.removeprefix(COMPONENTS)
            if key == "$ref"
            else _rebased(value, prefix)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebased(value, prefix) for value in node]
    return node


def data_schema(base_url: str, cloudevent_type: str) -> dict:
    """The JSON Schema (2020-12) of a type's `data`, standalone; LookupError for no such type."""
    components, data_of = _converted()
    if cloudevent_type not in data_of:
        raise LookupError(cloudevent_type)
    root = data_of[cloudevent_type]
    needed, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += _references(components[name])
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": cloudevents.schema_url(base_url, cloudevent_type),
        "title": f"The data of {cloudevent_type} events",
        "$ref": f"#/$defs/{root}",
        "$defs": {name: _rebased(components[name], "#/$defs/") for name in sorted(needed)},
    }


# --- the AsyncAPI document ----------------------------------------------------------------

EXTENSION_ATTRIBUTES = {
    cloudevents.CORRELATION_ID: {
        "type": "string",
        "description": "the id that ties this event to the request or event that caused it "
        "(also in Lodge's logs); a reply carries the request's",
    },
    "traceparent": {"type": "string", "description": "W3C Trace Context (Distributed Tracing)"},
    "tracestate": {"type": "string", "description": "W3C Trace Context (Distributed Tracing)"},
    cloudevents.SYSTEM: {
        "type": "string",
        "pattern": SYSTEM_NAME.pattern,
        "description": "the campus system whose request made the deposit (or that a reply answers)",
    },
    cloudevents.REQUEST_ID: {
        "type": "string",
        "description": "the `id` of that system's request event",
    },
}


def _envelopes() -> dict[str, dict]:
    """The CloudEvents 1.0 structured envelopes: what Lodge publishes, and what it takes."""
    attributes = {
        "specversion": {"type": "string", "const": cloudevents.SPEC_VERSION},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "format": "uri-reference", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"type": "string", "const": cloudevents.DATA_CONTENT_TYPE},
        "dataschema": {"type": "string", "format": "uri"},
    }
    return {
        "LodgeCloudEvent": {
            "type": "object",
            "description": "A CloudEvent Lodge publishes (structured mode, JSON): `source` is "
            "`<site>/lodge/<service>`, `dataschema` the JSON Schema of `data` at "
            f"`<site>{cloudevents.SCHEMA_PATH}<type>.json`.",
            "required": [
                "specversion",
                "id",
                "source",
                "type",
                "time",
                "datacontenttype",
                "dataschema",
                "data",
            ],
            "properties": {**attributes, **EXTENSION_ATTRIBUTES},
        },
        "CampusCloudEvent": {
            "type": "object",
            "description": "A CloudEvent a campus system sends (structured mode): its `source` "
            "and `id` are the request's idempotency key, so sending it again makes nothing "
            "new (the reply says `duplicate`).",
            "required": ["specversion", "id", "source", "type", "data"],
            "properties": {
                **attributes,
                "datacontenttype": {"type": "string", "const": cloudevents.DATA_CONTENT_TYPE},
                cloudevents.CORRELATION_ID: EXTENSION_ATTRIBUTES[cloudevents.CORRELATION_ID],
            },
        },
    }


def _amqp_message(kind: str) -> dict:
    return {
        "amqp": {"contentEncoding": "utf-8", "messageType": kind, "bindingVersion": AMQP_BINDING}
    }


def _message(kind: str, envelope: str, summary: str, required: tuple[str, ...]) -> dict:
    _, data_of = _converted()
    return {
        "name": kind,
        "title": _message_name(kind),
        "summary": summary,
        "contentType": cloudevents.CONTENT_TYPE,
        "correlationId": {"location": f"$message.payload#/{cloudevents.CORRELATION_ID}"},
        "payload": {
            "allOf": [
                {"$ref": COMPONENTS + envelope},
                {
                    "type": "object",
                    "required": list(required),
                    "properties": {
                        "type": {"type": "string", "const": kind},
                        "data": {"$ref": COMPONENTS + data_of[kind]},
                    },
                },
            ]
        },
        "bindings": _amqp_message(kind),
    }


def _binary_message(kind: str, summary: str) -> dict:
    """The same request in binary mode: attributes as `ce_` headers, `data` as the body."""
    _, data_of = _converted()
    return {
        "name": f"{kind} (binary)",
        "title": f"{_message_name(kind)} (binary mode)",
        "summary": summary,
        "contentType": cloudevents.DATA_CONTENT_TYPE,
        "headers": {
            "type": "object",
            "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
            "properties": {
                "ce_specversion": {"type": "string", "const": cloudevents.SPEC_VERSION},
                "ce_id": {"type": "string", "minLength": 1},
                "ce_source": {"type": "string", "format": "uri-reference", "minLength": 1},
                "ce_type": {"type": "string", "const": kind},
                "ce_subject": {"type": "string"},
                "ce_time": {"type": "string", "format": "date-time"},
                f"ce_{cloudevents.CORRELATION_ID}": {"type": "string"},
            },
        },
        "payload": {"$ref": COMPONENTS + data_of[kind]},
        "bindings": _amqp_message(kind),
    }


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _exchange(name: str) -> dict:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": name, "type": "topic", "durable": True, "autoDelete": False},
            "bindingVersion": AMQP_BINDING,
        }
    }


def _channel(address: str, exchange: str, messages: list[str], description: str) -> dict:
    channel = {
        "address": address,
        "description": description,
        "messages": {name: _ref("messages", name) for name in messages},
        "bindings": _exchange(exchange),
    }
    if "{system}" in address:
        channel["parameters"] = {"system": _ref("parameters", "system")}
    return channel


def _operation(action: str, channel: str, messages: list[str], summary: str, **extra) -> dict:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
        **extra,
    }


@cache
def asyncapi_document() -> dict:
    """The AsyncAPI 3.0 document of lodge.events (out) and lodge.inbox (in), from Lodge's
    side: it sends on the first and receives on the second."""
    components, _ = _converted()
    messages: dict[str, dict] = {}
    channels: dict[str, dict] = {}
    operations: dict[str, dict] = {}

    for (service, event), kind in cloudevents.TYPES.items():
        name = _message_name(kind)
        # a letter may be about no deposit (a token's expiry), so it may have no subject
        about = () if service == "letters" else ("subject",)
        messages[name] = _message(kind, "LodgeCloudEvent", SUMMARIES[(service, event)], about)
        key = f"{service}.{event}"
        channel_id = f"events.{key}"
        channels[channel_id] = _channel(
            key,
            CLOUDEVENTS_EXCHANGE.name,
            [name],
            f"Every {kind} event, on lodge.events with the routing key `{key}`. `subject` is "
            f"the {'item' if kind.startswith(cloudevents.ITEM_TYPES) else 'deposit'}'s id.",
        )
        operations[f"send.{key}"] = _operation(
            "send", channel_id, [name], SUMMARIES[(service, event)]
        )
        if cloudevents.carries_origin(service, event):
            system_channel = f"system.{key}"
            channels[system_channel] = _channel(
                f"system.{{system}}.{key}",
                CLOUDEVENTS_EXCHANGE.name,
                [name],
                f"The {kind} events of the deposits one campus system made, also published "
                f"with this key; they carry `{cloudevents.SYSTEM}` and "
                f"`{cloudevents.REQUEST_ID}` (the system's request id). A system's broker user "
                "may bind its queues `campus.<system>.*` with its own `system.<system>.…` keys.",
            )
            operations[f"send.system.{key}"] = _operation(
                "send", system_channel, [name], f"{SUMMARIES[(service, event)]} (for the system)"
            )

    replies = [_message_name(kind) for kind in cloudevents.REPLY_TYPES]
    messages[replies[0]] = _message(
        REQUEST_ACCEPTED,
        "LodgeCloudEvent",
        "Lodge took a system's request (`duplicate`: it had taken the same source and id "
        "before, and made nothing new); `deposit_id` names what it made.",
        (cloudevents.SYSTEM, cloudevents.REQUEST_ID),
    )
    messages[replies[1]] = _message(
        REQUEST_REFUSED,
        "LodgeCloudEvent",
        "Lodge refused a system's request: `error` has the REST API's code, message and field "
        "messages.",
        (cloudevents.SYSTEM, cloudevents.REQUEST_ID),
    )
    channels["system.reply"] = _channel(
        "system.{system}.reply",
        CLOUDEVENTS_EXCHANGE.name,
        replies,
        "One reply to every request a system sent (by the broker or over HTTP), with the "
        "request's correlation id. Bind a queue `campus.<system>.replies` to it.",
    )
    operations["send.system.reply"] = _operation(
        "send", "system.reply", replies, "Answer a campus system's request"
    )

    requested = _message_name(DEPOSIT_REQUESTED)
    messages[requested] = _message(
        DEPOSIT_REQUESTED,
        "CampusCloudEvent",
        "Make a deposit for a person: the depositor, the profile, the metadata, the files "
        "(by HTTPS URL, on the S3 endpoint, or inline base64) and whether to submit.",
        (),
    )
    messages[requested + "Binary"] = _binary_message(
        DEPOSIT_REQUESTED, messages[requested]["summary"]
    )
    people = []
    for kind_name, kind in cloudevents.PERSON_TYPES.items():
        name = _message_name(kind)
        messages[name] = _message(kind, "CampusCloudEvent", PERSON_SUMMARIES[kind_name], ())
        messages[name + "Binary"] = _binary_message(kind, PERSON_SUMMARIES[kind_name])
        people += [name, name + "Binary"]
    sent_by = (
        "Publish as the system's own broker user (by default `campus-<system>`) and set the "
        "AMQP `user_id` property to it: RabbitMQ refuses a user_id that is not the "
        "connection's, and Lodge refuses a message without one. Nothing in a message says who "
        "sent it."
    )
    channels["inbox.deposit"] = _channel(
        "{system}.deposit",
        INBOX_EXCHANGE,
        [requested, requested + "Binary"],
        f"Deposit requests, on {INBOX_EXCHANGE} with the system's own key. {sent_by}",
    )
    channels["inbox.person"] = _channel(
        "{system}.person",
        INBOX_EXCHANGE,
        people,
        "Person events from the campus identity system (a system registered to send people). "
        + sent_by,
    )
    user_id = {"amqp": {"userId": "campus-{system}", "bindingVersion": AMQP_BINDING}}
    operations["receive.deposit"] = _operation(
        "receive",
        "inbox.deposit",
        [requested, requested + "Binary"],
        "Take a deposit request; the reply goes to system.<system>.reply",
        bindings=user_id,
    )
    operations["receive.person"] = _operation(
        "receive", "inbox.person", people, "Take a person event", bindings=user_id
    )

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:lodge:event-interface",
        "info": {
            "title": "Lodge event interface",
            "version": "1.0.0",
            "description": "What Lodge publishes on the lodge.events exchange (CloudEvents 1.0, "
            "structured JSON) and what campus systems send it on lodge.inbox. Routing keys: "
            "`<service>.<event>` for every event; `system.<system>.<service>.<event>` for the "
            "deposits a system made, and `system.<system>.reply` for the replies to its "
            "requests. Each event's `dataschema` is the URL of the JSON Schema of its data.",
        },
        "servers": {
            "broker": {
                "host": "{broker}",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "The site's RabbitMQ; its operators give you the host, the "
                "virtual host and your broker user (`lodge broker-users --apply`).",
                "variables": {"broker": {"default": "localhost:5672"}},
            }
        },
        "defaultContentType": cloudevents.CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {**copy.deepcopy(components), **_envelopes()},
            "messages": messages,
            "parameters": {
                "system": {
                    "description": "a registered campus system's name: lower-case letters, "
                    "digits and hyphens",
                    "examples": ["thesis-flow"],
                }
            },
        },
    }
