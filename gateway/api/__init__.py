"""REST API v1: JSON in and out, the contract campus systems rely on."""
from __future__ import annotations

import base64
import uuid

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from sqlalchemy import or_, select

from gateway.access import files_visible
from gateway.api import schemas
from gateway.api.openapi import openapi_document
from gateway.auth import login_required, requires
from gateway.downloads import send_stored
from gateway.identity import actor_for
from gateway.models import User
from gateway.quotas import quota_usage, room_beside_uploads
from gateway.uploads import (MultipartUpload, check_declared_length, expected_digests,
                             raw_chunks, sanitise_filename, sniff_media_type, verify_digests)
from gateway.validation_report import precheck_upload
from kernel.contracts.exceptions import InvalidInput, NotFound
from kernel.contracts.profiles import ProfileDefinitionSchema
from kernel.contracts.rpc import load_or_raise
from kernel.platform.storage import StoredObject, get_storage, new_key
from kernel.policy.permissions import Action

api = Blueprint("api", __name__, url_prefix="/api/v1")

MULTIPART_OVERHEAD = 64 * 1024
INLINE_SAFE = ("application/pdf", "image/png", "image/jpeg", "image/gif", "audio/", "video/")


def rpc():
    return current_app.extensions["lodge.rpc"].client()


def json_body(schema) -> dict:
    if not request.data:
        data = {}
    else:
        data = request.get_json(silent=True)
        if data is None:
            raise InvalidInput("The body is not valid JSON.", fields={"body": ["malformed JSON"]})
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", fields={"body": ["not an object"]})
    return load_or_raise(schema(), data)


def query_args(schema) -> dict:
    return load_or_raise(schema(), request.args.to_dict())


@api.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


# --- profiles ---------------------------------------------------------------

@api.get("/profiles")
@login_required
def list_profiles():
    args = query_args(schemas.ListProfilesQuery)
    with rpc() as services:
        return jsonify(items=services.intake.list_profiles(
            actor=g.actor, include_inactive=args["include_inactive"], mediated=args["mediated"]))


@api.get("/profiles/<profile_id>")
@login_required
def get_profile(profile_id):
    args = query_args(schemas.ProfileQuery)
    with rpc() as services:
        return jsonify(services.intake.get_profile(actor=g.actor, profile_id=profile_id,
                                                   version=args["version"]))


@api.get("/profiles/<profile_id>/versions")
@requires(Action.MANAGE_PROFILES)
def profile_versions(profile_id):
    with rpc() as services:
        return jsonify(items=services.intake.profile_versions(actor=g.actor,
                                                              profile_id=profile_id))


@api.post("/profiles")
@requires(Action.MANAGE_PROFILES)
def create_profile():
    body = json_body(schemas.CreateProfileBody)
    profile_id = body.pop("id")
    with rpc() as services:
        profile = services.intake.save_profile(actor=g.actor, profile_id=profile_id,
                                               definition=body, create=True)
    response = jsonify(profile)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_profile", profile_id=profile_id)
    return response


@api.put("/profiles/<profile_id>")
@requires(Action.MANAGE_PROFILES)
def update_profile(profile_id):
    """Editing a profile adds a version; deposits keep the version they were made under."""
    body = json_body(ProfileDefinitionSchema)
    with rpc() as services:
        return jsonify(services.intake.save_profile(actor=g.actor, profile_id=profile_id,
                                                    definition=body, create=False))


@api.get("/collections")
def list_collections():
    with rpc() as services:
        return jsonify(items=services.inventory.list_collections())


# --- deposits ---------------------------------------------------------------

def _depositor(reference: str) -> dict:
    """The patron a staff member deposits for, by user id, username or e-mail."""
    with current_app.extensions["lodge.database"].reading() as session:
        user = session.scalar(select(User).where(or_(
            User.id == reference, User.username == reference, User.email == reference)))
        if user is None:
            raise InvalidInput("There is no such user.", fields={"on_behalf_of": ["unknown user"]})
        return actor_for(user)


@api.post("/deposits")
@login_required
def create_deposit():
    body = json_body(schemas.CreateDepositBody)
    on_behalf_of = _depositor(body["on_behalf_of"]) if body["on_behalf_of"] else None
    with rpc() as services:
        deposit = services.intake.create_deposit(
            actor=g.actor, profile_id=body["profile_id"], metadata=body["metadata"],
            on_behalf_of=on_behalf_of)
    response = jsonify(deposit)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_deposit", deposit_id=deposit["id"])
    return response


@api.get("/deposits")
@login_required
def list_deposits():
    args = query_args(schemas.ListDepositsQuery)
    with rpc() as services:
        return jsonify(services.intake.list_deposits(
            actor=g.actor, status=args["status"], depositor_id=args["depositor"],
            page=args["page"], per_page=args["per_page"]))


@api.get("/deposits/<deposit_id>")
@login_required
def get_deposit(deposit_id):
    with rpc() as services:
        return jsonify(services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id))


@api.get("/deposits/<deposit_id>/letters")
@login_required
def deposit_letters(deposit_id):
    """The deposit's delivery log: staff see every letter, a depositor the ones sent to them."""
    with rpc() as services:
        services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)  # 404 unless visible
        return jsonify(items=services.letters.list_deliveries(actor=g.actor,
                                                              deposit_id=deposit_id))


@api.patch("/deposits/<deposit_id>")
@login_required
def update_deposit(deposit_id):
    body = json_body(schemas.UpdateDepositBody)
    with rpc() as services:
        return jsonify(services.intake.update_deposit(actor=g.actor, deposit_id=deposit_id,
                                                      **body))


@api.post("/deposits/<deposit_id>/actions/<action>")
@login_required
def deposit_action(deposit_id, action):
    body = json_body(schemas.DepositActionBody)
    with rpc() as services:
        if action == "submit":
            return jsonify(services.intake.submit(actor=g.actor, deposit_id=deposit_id))
        if action == "withdraw":
            return jsonify(services.intake.withdraw(actor=g.actor, deposit_id=deposit_id,
                                                    note=body["note"]))
    abort(404, description=f"There is no deposit action {action!r}; use submit or withdraw.")


@api.get("/quota")
@login_required
def quota():
    """The caller's unfinished work against the site's limits: how much room is left."""
    with rpc() as services:
        return jsonify(quota_usage(services, g.actor))


@api.post("/deposits/<deposit_id>/files")
@login_required
def upload_file(deposit_id):
    """Stream the body into staging, then register the file with intake."""
    with rpc() as services:
        policy = services.intake.upload_policy(actor=g.actor, deposit_id=deposit_id)
    limit = max(min(policy["max_file_size"], room_beside_uploads(policy, g.actor["id"])), 0)
    multipart = request.mimetype == "multipart/form-data"
    check_declared_length(request.content_length,
                          limit + (MULTIPART_OVERHEAD if multipart else 0))
    request.max_content_length = limit + MULTIPART_OVERHEAD
    expected = expected_digests(request.headers)
    if multipart:
        upload = MultipartUpload(request.stream, request.content_type, limit)
        upload.open()
        filename, chunks = sanitise_filename(upload.filename), upload.chunks()
    else:
        filename = sanitise_filename(query_args(schemas.UploadQuery)["filename"])
        chunks = raw_chunks(request.stream)

    storage = get_storage()
    stored = storage.save(new_key("staging", deposit_id), chunks, max_size=limit)
    try:
        verify_digests(stored, expected)
    except BaseException:
        storage.delete(stored.key)
        raise
    response = jsonify(register_staged_file(deposit_id, filename, stored, policy["file_rules"]))
    response.status_code = 201
    return response


def register_staged_file(deposit_id: str, filename: str, stored: StoredObject,
                         file_rules: dict | None = None) -> dict:
    """Register a complete staged object with intake (which checks the profile's rules
    again), then run validation's quick pre-check. The object is deleted if intake refuses."""
    storage = get_storage()
    try:
        record = {"id": uuid.uuid4().hex, "filename": filename, "size": stored.size,
                  "sha256": stored.sha256, "md5": stored.md5, "storage_key": stored.key,
                  "media_type": sniff_media_type(storage.head(stored.key))}
        with rpc() as services:
            created = services.intake.add_file(actor=g.actor, deposit_id=deposit_id, file=record)
    except BaseException:
        storage.delete(stored.key)
        raise
    if file_rules is None:
        with rpc() as services:
            file_rules = services.intake.upload_policy(actor=g.actor,
                                                       deposit_id=deposit_id)["file_rules"]
    return {**schemas.FileCreated().dump(created),
            "precheck": precheck_upload(stored.key, created["filename"], file_rules,
                                        created["id"])}


@api.delete("/deposits/<deposit_id>/files/<file_id>")
@login_required
def delete_file(deposit_id, file_id):
    with rpc() as services:
        services.intake.remove_file(actor=g.actor, deposit_id=deposit_id, file_id=file_id)
    return "", 204


# --- items ------------------------------------------------------------------

@api.get("/items/<item_id>")
def get_item(item_id):
    with rpc() as services:
        return jsonify(services.inventory.get_item(item_id=item_id))


@api.post("/items/<item_id>/actions/withdraw")
@requires(Action.WITHDRAW_ITEMS)
def withdraw_item(item_id):
    body = json_body(schemas.WithdrawItemBody)
    with rpc() as services:
        return jsonify(services.inventory.withdraw_item(actor=g.actor, item_id=item_id,
                                                        reason=body["reason"]))


@api.get("/items/<item_id>/files/<file_id>")
def download_item_file(item_id, file_id):
    with rpc() as services:
        item = services.inventory.get_item(item_id=item_id)
        stored = services.inventory.get_item_file(item_id=item_id, file_id=file_id)
    if not files_visible(item, g.actor, request.remote_addr):
        raise NotFound("There is no such file.")
    response = send_stored(stored, inline=stored["media_type"].startswith(INLINE_SAFE))
    response.headers["Digest"] = "sha-256=" + base64.b64encode(
        bytes.fromhex(stored["sha256"])).decode()
    # a deposited file is never a page of this origin
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


from gateway.api import inventory  # noqa: E402,F401  (its routes join this blueprint)
from gateway.api import reviews  # noqa: E402,F401  (its routes join this blueprint)
