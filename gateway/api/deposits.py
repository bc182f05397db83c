"""REST API v1: deposits, their files (uploaded whole), actions and the caller's quota."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from sqlalchemy import or_, select

from gateway.api import schemas
from gateway.api.arguments import json_body, query_args
from gateway.api.spec import (
    DEPOSIT_LINKS,
    REVIEW_LINKS,
    links,
    operation,
    path_param,
    query,
    ref,
)
from gateway.auth.guard import login_required
from gateway.auth.identity import actor_for
from gateway.files.quotas import quota_usage, reserved_by_uploads, room_for_file
from gateway.files.uploads import (
    MultipartUpload,
    add_staged_file,
    check_declared_length,
    expected_digests,
    raw_chunks,
    sanitise_filename,
    verify_digests,
)
from gateway.models import User
from gateway.presenters.validation_report import precheck_upload
from gateway.rpc import rpc
from kernel.contracts.actors import Actor
from kernel.contracts.deposits import STATUSES, DepositPageView, DepositView
from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.quotas import QuotaView
from kernel.platform.storage import StoredObject, get_storage, new_key

deposits_api = Blueprint("deposits_api", __name__, url_prefix="/api/v1")

MULTIPART_OVERHEAD = 64 * 1024


def find_account(reference: str) -> Actor | None:
    """An account by its user id, username or e-mail address."""
    with current_app.extensions["lodge.database"].reading() as session:
        user = session.scalar(
            select(User).where(
                or_(User.id == reference, User.username == reference, User.email == reference)
            )
        )
        return actor_for(user) if user is not None else None


def _depositor(reference: str) -> Actor:
    """The patron a staff member deposits for, by user id, username or e-mail."""
    depositor = find_account(reference)
    if depositor is None:
        raise InvalidInput("There is no such user.", fields={"on_behalf_of": ["unknown user"]})
    return depositor


@deposits_api.post("/deposits")
@login_required
def create_deposit():
    body = json_body(schemas.CreateDepositBody)
    on_behalf_of = _depositor(body["on_behalf_of"]) if body["on_behalf_of"] else None
    with rpc() as services:
        deposit = services.intake.create_deposit(
            actor=g.actor,
            profile_id=body["profile_id"],
            metadata=body["metadata"],
            on_behalf_of=on_behalf_of,
        )
    response = jsonify(deposit)
    response.status_code = 201
    response.headers["Location"] = url_for("deposits_api.get_deposit", deposit_id=deposit["id"])
    return response


@deposits_api.get("/deposits")
@login_required
def list_deposits():
    args = query_args(schemas.ListDepositsQuery)
    with rpc() as services:
        return jsonify(
            services.intake.list_deposits(
                actor=g.actor,
                status=args["status"],
                depositor_id=args["depositor"],
                page=args["page"],
                per_page=args["per_page"],
            )
        )


@deposits_api.get("/deposits/<deposit_id>")
@login_required
def get_deposit(deposit_id):
    with rpc() as services:
        return jsonify(services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id))


@deposits_api.get("/deposits/<deposit_id>/letters")
@login_required
def deposit_letters(deposit_id):
    """The deposit's delivery log: staff see every letter, a depositor the ones sent to them."""
    with rpc() as services:
        services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)  # 404 unless visible
        return jsonify(items=services.letters.list_deliveries(actor=g.actor, deposit_id=deposit_id))


@deposits_api.patch("/deposits/<deposit_id>")
@login_required
def update_deposit(deposit_id):
    body = json_body(schemas.UpdateDepositBody)
    with rpc() as services:
        return jsonify(services.intake.update_deposit(actor=g.actor, deposit_id=deposit_id, **body))


@deposits_api.post("/deposits/<deposit_id>/actions/<action>")
@login_required
def deposit_action(deposit_id, action):
    body = json_body(schemas.DepositActionBody)
    with rpc() as services:
        if action == "submit":
            return jsonify(services.intake.submit(actor=g.actor, deposit_id=deposit_id))
        if action == "withdraw":
            return jsonify(
                services.intake.withdraw(actor=g.actor, deposit_id=deposit_id, note=body["note"])
            )
    abort(404, description=f"There is no deposit action {action!r}; use submit or withdraw.")


@deposits_api.get("/quota")
@login_required
def quota():
    """The caller's unfinished work against the site's limits: how much room is left."""
    with rpc() as services:
        return jsonify(quota_usage(services, g.actor))


@deposits_api.post("/deposits/<deposit_id>/files")
@login_required
def upload_file(deposit_id):
    """Stream the body into staging, then register the file with intake."""
    policy, limit = upload_room(deposit_id)
    multipart = request.mimetype == "multipart/form-data"
    check_declared_length(request.content_length, limit + (MULTIPART_OVERHEAD if multipart else 0))
    request.max_content_length = limit + MULTIPART_OVERHEAD
    expected = expected_digests(request.headers)
    if multipart:
        upload = MultipartUpload(request.stream, request.content_type, limit)
        upload.open()
        filename, chunks = sanitise_filename(upload.filename), upload.chunks()
    else:
        filename = sanitise_filename(query_args(schemas.UploadQuery)["filename"])
        chunks = raw_chunks(request.stream)
    stored = stage(deposit_id, chunks, limit, expected)
    response = jsonify(register_staged_file(deposit_id, filename, stored, policy["file_rules"]))
    response.status_code = 201
    return response


def upload_room(deposit_id: str) -> tuple[dict, int]:
    """Intake's upload policy for the deposit, and the bytes the next file may have: the
    profile's and the quota's room, less what the caller's unfinished uploads reserve."""
    with rpc() as services:
        policy = services.intake.upload_policy(actor=g.actor, deposit_id=deposit_id)
    return policy, room_for_file(policy, reserved_by_uploads(g.actor.id))


def stage(deposit_id: str, chunks, limit: int, expected: dict[str, str]) -> StoredObject:
    """Stream `chunks` into staging up to `limit` bytes, checked against the `expected`
    digests; nothing stays stored when they differ."""
    storage = get_storage()
    stored = storage.save(new_key("staging", deposit_id), chunks, max_size=limit)
    try:
        verify_digests(stored, expected)
    except BaseException:
        storage.delete(stored.key)
        raise
    return stored


def register_staged_file(
    deposit_id: str, filename: str, stored: StoredObject, file_rules: dict | None = None
) -> dict:
    """Register a complete staged object with intake (add_staged_file), then run
    validation's quick pre-check."""
    with rpc() as services:
        created = add_staged_file(services, g.actor, deposit_id, filename, stored)
    if file_rules is None:
        with rpc() as services:
            file_rules = services.intake.upload_policy(actor=g.actor, deposit_id=deposit_id)[
                "file_rules"
            ]
    return {
        **schemas.FileCreated().dump(created),
        "precheck": precheck_upload(stored.key, created["filename"], file_rules, created["id"]),
    }


@deposits_api.delete("/deposits/<deposit_id>/files/<file_id>")
@login_required
def delete_file(deposit_id, file_id):
    with rpc() as services:
        services.intake.remove_file(actor=g.actor, deposit_id=deposit_id, file_id=file_id)
    return "", 204


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    for name, schema in {
        "Deposit": DepositView,
        "DepositPage": DepositPageView,
        "FileCreated": schemas.FileCreated,
        "CreateDeposit": schemas.CreateDepositBody,
        "UpdateDeposit": schemas.UpdateDepositBody,
        "DepositAction": schemas.DepositActionBody,
        "DeliveryLog": schemas.DeliveryLog,
        "Quota": QuotaView,
    }.items():
        spec.components.schema(name, schema=schema)
    deposit_id = path_param("deposit_id")
    spec.path(
        "/api/v1/deposits",
        operations={
            "get": operation(
                "The caller's deposits (staff may filter by depositor)",
                ref("DepositPage"),
                params=[
                    query("status", enum=STATUSES),
                    query("depositor"),
                    query("page", "integer"),
                    query("per_page", "integer"),
                ],
                errors=("401", "422"),
                operation_id="listDeposits",
            ),
            "post": operation(
                "Create a draft deposit (429 when the depositor has as many "
                "unfinished deposits as allowed)",
                ref("Deposit"),
                "201",
                ref("CreateDeposit"),
                errors=("400", "401", "403", "404", "422", "429"),
                operation_id="createDeposit",
                links=links("$response.body#/id", DEPOSIT_LINKS),
            ),
        },
    )
    spec.path(
        "/api/v1/deposits/{deposit_id}",
        operations={
            "get": operation(
                "A deposit with its history, files and validation report",
                ref("Deposit"),
                params=[deposit_id],
                operation_id="getDeposit",
            ),
            "patch": operation(
                "Change the metadata, accept the terms, or choose the access of a "
                "draft or returned deposit",
                ref("Deposit"),
                body=ref("UpdateDeposit"),
                params=[deposit_id],
                errors=("400", "401", "403", "404", "409", "422"),
                operation_id="updateDeposit",
            ),
        },
    )
    spec.path(
        "/api/v1/quota",
        operations={
            "get": operation(
                "The caller's unfinished work against the site's limits: drafts (draft or returned "
                "deposits), staged bytes (their files plus "
                "unfinished uploads' declared lengths) and "
                "unfinished resumable uploads. Going over answers 429 (a count) or 413 (bytes).",
                ref("Quota"),
                errors=("401",),
                operation_id="getQuota",
            )
        },
    )
    spec.path(
        "/api/v1/deposits/{deposit_id}/letters",
        operations={
            "get": operation(
                "The letters sent about a deposit (staff: all; a depositor: those sent to them)",
                ref("DeliveryLog"),
                params=[deposit_id],
                operation_id="depositLetters",
            )
        },
    )
    spec.path(
        "/api/v1/deposits/{deposit_id}/files",
        operations={
            "post": {
                **operation(
                    "Upload a file: the request body named by ?filename=, or multipart "
                    "with a part named 'file'. Streamed and checksummed before 201.",
                    ref("FileCreated"),
                    "201",
                    params=[deposit_id, query("filename")],
                    errors=("401", "403", "404", "409", "413", "422"),
                    operation_id="uploadFile",
                    links={
                        "deleteFile": {
                            "operationId": "deleteFile",
                            "parameters": {
                                "deposit_id": "$request.path.deposit_id",
                                "file_id": "$response.body#/id",
                            },
                        }
                    },
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        },
                    },
                },
            }
        },
    )
    spec.path(
        "/api/v1/deposits/{deposit_id}/files/{file_id}",
        operations={
            "delete": operation(
                "Remove a file from a draft or returned deposit",
                None,
                "204",
                params=[deposit_id, path_param("file_id")],
                errors=("401", "403", "404", "409"),
                operation_id="deleteFile",
            )
        },
    )
    spec.path(
        "/api/v1/deposits/{deposit_id}/actions/{action}",
        operations={
            "post": operation(
                "Submit or withdraw",
                ref("Deposit"),
                body=ref("DepositAction"),
                params=[
                    deposit_id,
                    {
                        **path_param("action"),
                        "schema": {"type": "string", "enum": ["submit", "withdraw"]},
                    },
                ],
                errors=("400", "401", "403", "404", "409", "422"),
                operation_id="depositAction",
                links=links(
                    "$request.path.deposit_id",
                    {
                        "getDeposit": ("deposit_id",),
                        "reviewAction": ("deposit_id",),
                        **REVIEW_LINKS,
                    },
                ),
            )
        },
    )
