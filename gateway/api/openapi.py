"""The OpenAPI 3 document of REST API v1, put together from what each API module describes
beside its routes, with the same marshmallow schemas the API uses."""

from __future__ import annotations

import sys
from functools import lru_cache
from types import ModuleType
from typing import cast

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import Schema

from gateway.api.spec import error_response
from gateway.http.security import MAX_JSON_BYTES, MAX_JSON_DEPTH

openapi_api = Blueprint("openapi_api", __name__, url_prefix="/api/v1")

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object"},
            },
        }
    },
}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Send a POST again with the same key (1-255 visible ASCII characters, kept "
    "a day per caller) to get the first successful answer again, marked "
    "Idempotent-Replayed: true, instead of doing it twice. The same key with a "
    "different request answers 422; while the first is still running, 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def _idempotent_posts(document: dict) -> None:
    """Every POST takes an Idempotency-Key (gateway/http/idempotency.py)."""
    for operations in document["paths"].values():
        post = operations.get("post")
        if post is None:
            continue
        post.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        for code in ("409", "422"):
            post["responses"].setdefault(code, error_response(code))


def _component_name(schema) -> str:
    """A nested schema's component: its class name without the contracts' Schema or View."""
    name = cast(type[Schema], resolve_schema_cls(schema)).__name__  # a nested schema: one class
    return name.removesuffix("Schema").removesuffix("View") or name


def described_modules(app: Flask) -> tuple[ModuleType, ...]:
    """The modules of the app's blueprints (gateway/blueprints.py) that describe their part of
    the API, in the order they are registered, which is the document's order."""
    modules = (sys.modules[blueprint.import_name] for blueprint in app.blueprints.values())
    return tuple(module for module in modules if hasattr(module, "describe"))


def openapi_document(app: Flask) -> dict:
    return _document(described_modules(app))


@lru_cache(maxsize=1)
def _document(described: tuple[ModuleType, ...]) -> dict:
    spec = APISpec(
        title="Lodge REST API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_component_name)],
        info={
            "description": "Self-deposit for institutional repositories. "
            "Authenticate with a session cookie plus X-CSRFToken, "
            "or with 'Authorization: Bearer <token>'. A JSON "
            f"body holds less than {MAX_JSON_BYTES} bytes (413) "
            f"and nests at most {MAX_JSON_DEPTH} levels (422)."
        },
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": "lodge_session"}
    )
    spec.components.schema("Error", ERROR)
    for module in described:
        module.describe(spec)
    document = spec.to_dict()
    _idempotent_posts(document)
    document["security"] = [{"bearer": []}, {"session": []}]
    return document


@openapi_api.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app))
