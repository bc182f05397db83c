"""The event interface's documents, public like the OpenAPI one: the AsyncAPI document of
lodge.events and lodge.inbox, and the JSON Schema each CloudEvent's `dataschema` names."""

from __future__ import annotations

from flask import Blueprint, jsonify

from gateway.api.spec import operation
from gateway.campus.interface import asyncapi_document, data_schema
from kernel.contracts.cloudevents import SCHEMA_PATH
from kernel.contracts.exceptions import NotFound
from kernel.platform.config import get_settings

event_interface_api = Blueprint("event_interface_api", __name__)

SCHEMA_MEDIA_TYPE = "application/schema+json"


@event_interface_api.get("/api/v1/asyncapi.json")
def asyncapi():
    return jsonify(asyncapi_document())


@event_interface_api.get(f"{SCHEMA_PATH}<cloudevent_type>.json")
def event_schema(cloudevent_type: str):
    try:
        schema = data_schema(get_settings().site.base_url, cloudevent_type)
    except LookupError:
        raise NotFound("No event of this type.") from None
    response = jsonify(schema)
    response.mimetype = SCHEMA_MEDIA_TYPE
    return response


def describe(spec) -> None:
    """This module's API path in the OpenAPI document (the schemas are not API paths)."""
    spec.path(
        "/api/v1/asyncapi.json",
        operations={
            "get": operation(
                "The AsyncAPI 3.0 document of the event interface: what Lodge publishes on "
                "lodge.events and what campus systems send on lodge.inbox (CloudEvents 1.0); "
                f"the data schema of each type is at {SCHEMA_PATH}{{type}}.json",
                None,
                errors=(),
                operation_id="asyncapiDocument",
            )
        },
    )
