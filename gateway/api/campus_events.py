"""The HTTP door for campus systems without a broker: `POST /api/v1/campus/events` takes the
requests the inbox takes (gateway/campus/inbox.py), as a CloudEvent in the HTTP binding's
structured mode (`application/cloudevents+json`) or binary mode (`ce-` headers, the data
in the body), and carries each out through the same handler (gateway/campus/requests.py).

The sender is the system whose API token is sent as Bearer, or whose webhook secret signs
the request (gateway/campus/webhooks.py); a session cookie counts for nothing here, and
nothing in the event says who sent it. The answer is the reply: accepted as the reply
CloudEvent (201, or 200 for a request answered before), refused with the REST API's
status and error shape. A fault (503) leaves nothing half made: the same request again is
carried out once."""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

from flask import Blueprint, Response, abort, current_app, g, request

from gateway.api.spec import error_response as error_doc
from gateway.api.spec import header
from gateway.auth.guard import bearer_token
from gateway.campus import inbox, registry, systems, webhooks
from gateway.campus.requests import Request, handle, reply_event
from gateway.campus.systems import System
from gateway.http.errors import error_response, status_of
from kernel.platform.config import get_settings
from kernel.policy.permissions import DEPOSIT_SCOPE

campus_events_api = Blueprint("campus_events_api", __name__, url_prefix="/api/v1/campus")
BINARY_PREFIX = "ce-"


def _database():
    return current_app.extensions["lodge.database"]


def sender(body: bytes) -> System:
    """The registered, active system the request is from, or a 401/403."""
    if bearer_token():  # the guard has loaded its holder, or answered 401
        if DEPOSIT_SCOPE not in (g.token_scopes or ()):
            abort(403, description=f"This API token lacks the scope '{DEPOSIT_SCOPE}'.")
        with _database().reading() as session:
            system = systems.by_account(session, g.actor.id)
        if system is None:
            abort(403, description="This API token is no registered campus system's.")
        return system
    name = request.headers.get(webhooks.SYSTEM_HEADER, "")
    signature = request.headers.get(webhooks.SIGNATURE_HEADER, "")
    if not name or not signature:
        abort(
            401,
            description="Send the system's API token as 'Authorization: Bearer', or sign the "
            f"request ({webhooks.SYSTEM_HEADER} and {webhooks.SIGNATURE_HEADER}).",
        )
    with _database().reading() as session:
        found = registry.webhook_secret_of(session, name[:100])
    # an unknown name is checked against a secret nobody has: it reads as a wrong signature,
    # so the answer never tells which systems there are
    secret = found[1] if found else webhooks.new_secret()
    try:
        webhooks.check(signature, body, secret, time.time())
    except webhooks.BadSignature as err:
        abort(401, description=f"The request's signature is not taken: {err}.")
    assert found is not None  # a secret nobody has matches nothing
    return found[0]


def binary_headers() -> dict[str, str]:
    """The `ce-` headers as the inbox reads binary attributes (HTTP header names are case
    blind; their values are percent-encoded)."""
    return {
        "ce_" + name[len(BINARY_PREFIX) :].lower(): unquote(value)
        for name, value in request.headers.items()
        if name.lower().startswith(BINARY_PREFIX)
    }


def _text(attributes: dict, name: str) -> str | None:
    value = attributes.get(name)
    return value if isinstance(value, str) else None


@campus_events_api.post("/events")
def receive_event():
    most = get_settings().processes.inbox_max_bytes
    request.max_content_length = most  # the broker door's limit: the same requests fit both
    body = request.get_data(cache=True)
    system = sender(body)
    attributes, problem = inbox.read_event(body, request.content_type, binary_headers(), most)
    if problem is not None:
        raise problem
    event = Request(
        system=system,
        type=inbox.attribute(attributes, "type"),
        source=inbox.attribute(attributes, "source"),
        id=inbox.attribute(attributes, "id"),
        data=attributes.get("data"),
        subject=_text(attributes, "subject"),
        correlation_id=_text(attributes, "correlationid"),
    )
    reply = handle(event)
    if reply["error"]:
        error = reply["error"]
        return error_response(
            status_of(error["code"]), error["code"], error["message"], error["fields"]
        )
    return Response(
        json.dumps(reply_event(event, reply)),
        status=200 if reply["duplicate"] else 201,
        content_type=inbox.STRUCTURED,
    )


def describe(spec) -> None:
    """This module's path in the OpenAPI document."""
    event = {"$ref": "#/components/schemas/CloudEvent"}
    spec.components.schema(
        "CloudEvent",
        {
            "type": "object",
            "description": "A CloudEvent 1.0 in structured mode",
            "required": ["specversion", "id", "source", "type"],
            "properties": {
                "specversion": {"type": "string", "enum": ["1.0"]},
                "id": {"type": "string"},
                "source": {"type": "string"},
                "type": {"type": "string"},
                "subject": {"type": "string"},
                "datacontenttype": {"type": "string"},
                "data": {},
            },
        },
    )
    spec.path(
        "/api/v1/campus/events",
        operations={
            "post": {
                "summary": "A campus system's request (a deposit request or a person event) "
                "as a CloudEvent, structured or in binary mode with ce- headers; from the "
                "holder of a registered system's token (scope deposit) or signed with its "
                "webhook secret. The same source and id again is answered as before (200) "
                "and makes nothing new",
                "operationId": "sendCampusEvent",
                "parameters": [
                    header(webhooks.SYSTEM_HEADER, required=False),
                    header(webhooks.SIGNATURE_HEADER, required=False),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/cloudevents+json": {"schema": event},
                        "application/json": {"schema": {}},
                    },
                },
                "responses": {
                    "201": {
                        "description": "Accepted: the reply CloudEvent",
                        "content": {"application/cloudevents+json": {"schema": event}},
                    },
                    "200": {
                        "description": "Answered before: the reply again, duplicate",
                        "content": {"application/cloudevents+json": {"schema": event}},
                    },
                    **{
                        code: error_doc(code)
                        for code in ("401", "403", "404", "409", "413", "422", "429")
                    },
                },
            }
        },
    )
