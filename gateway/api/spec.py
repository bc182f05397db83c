"""Building blocks of the OpenAPI document: each API module describes its own paths and
schemas with these, beside its routes (gateway/api/openapi.py puts them together)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERRORS = {
    "400": "Malformed request",
    "401": "Not signed in",
    "403": "Not allowed",
    "404": "No such object, or not yours",
    "409": "Conflict or invalid transition",
    "413": "Too large",
    "422": "Invalid input, with per-field messages",
    "410": "The upload expired",
    "412": "Tus-Resumable missing or not 1.0.0",
    "415": "Wrong content type",
    "460": "Upload-Checksum does not match the chunk",
    "429": "Over a limit on unfinished work (drafts, uploads); see /api/v1/quota",
}


def error_response(code: str) -> dict:
    return {
        "description": ERRORS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def header(name: str, required: bool = True) -> dict:
    return {"name": name, "in": "header", "required": required, "schema": {"type": "string"}}


def path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def query(name: str, schema_type: str = "string", enum: tuple | None = None) -> dict:
    schema: dict[str, Any] = {"type": schema_type}
    if enum:
        schema["enum"] = list(enum)
    return {"name": name, "in": "query", "required": False, "schema": schema}


def operation(
    summary: str,
    response: str | None,
    status: str = "200",
    body: str | None = None,
    params: list | None = None,
    errors: tuple[str, ...] = ("401", "404"),
    operation_id: str | None = None,
    links: dict | None = None,
) -> dict:
    responses: dict[str, dict[str, Any]] = {status: {"description": "OK"}}
    if links:
        responses[status]["links"] = links
    if response:
        responses[status]["content"] = {"application/json": {"schema": {"$ref": response}}}
    for code in errors:
        responses[code] = error_response(code)
    operation = {"summary": summary, "responses": responses, "parameters": params or []}
    if operation_id:
        operation["operationId"] = operation_id
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": body}}},
        }
    return operation


def links(source: str, targets: Mapping[str, tuple[str, ...]]) -> dict:
    """OpenAPI links: each target operation takes its path parameters from `source`, a
    runtime expression such as `$response.body#/id`, so clients (and schemathesis's stateful
    tests) can follow what one call created into the next."""
    return {
        f"{operation_id}": {
            "operationId": operation_id,
            "parameters": dict.fromkeys(params, source),
        }
        for operation_id, params in targets.items()
    }


DEPOSIT_LINKS = {
    "getDeposit": ("deposit_id",),
    "updateDeposit": ("deposit_id",),
    "uploadFile": ("deposit_id",),
    "depositAction": ("deposit_id",),
    "reviewAction": ("deposit_id",),
    "depositLetters": ("deposit_id",),
    "startUpload": ("deposit_id",),
}
# a review's operations, for the calls that put a deposit in review
REVIEW_LINKS = {
    "getReview": ("deposit_id",),
    "reviewNotes": ("deposit_id",),
    "reviewColleagues": ("deposit_id",),
    "editReviewMetadata": ("deposit_id",),
    "letterPreview": ("deposit_id",),
}


def ref(name: str) -> str:
    return f"#/components/schemas/{name}"
