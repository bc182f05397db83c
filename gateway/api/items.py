"""REST API v1: items in the repository, their files, and withdrawing one."""

from __future__ import annotations

import base64

from flask import Blueprint, g, jsonify, request, url_for

from gateway.api import schemas
from gateway.api.arguments import json_body
from gateway.api.spec import links, operation, path_param, ref
from gateway.auth.guard import requires
from gateway.files.access import files_visible
from gateway.files.downloads import send_stored
from gateway.presenters import signposting
from gateway.rpc import rpc
from gateway.web.exports import absolute
from kernel.contracts.exceptions import NotFound
from kernel.contracts.inventory import ItemView
from kernel.policy.permissions import Action

items_api = Blueprint("items_api", __name__, url_prefix="/api/v1")

INLINE_SAFE = ("application/pdf", "image/png", "image/jpeg", "image/gif", "audio/", "video/")


@items_api.get("/items/<item_id>")
def get_item(item_id):
    with rpc() as services:
        return jsonify(services.inventory.get_item(item_id=item_id))


@items_api.post("/items/<item_id>/actions/withdraw")
@requires(Action.WITHDRAW_ITEMS)
def withdraw_item(item_id):
    body = json_body(schemas.WithdrawItemBody)
    with rpc() as services:
        return jsonify(
            services.inventory.withdraw_item(actor=g.actor, item_id=item_id, reason=body["reason"])
        )


@items_api.get("/items/<item_id>/files/<file_id>")
def download_item_file(item_id, file_id):
    with rpc() as services:
        item = services.inventory.get_item(item_id=item_id)
        stored = services.inventory.get_item_file(item_id=item_id, file_id=file_id)
    if not files_visible(item, g.actor, request.remote_addr):
        raise NotFound("There is no such file.")
    response = send_stored(
        stored, inline=stored["media_type"].startswith(INLINE_SAFE), item_id=item_id
    )
    response.headers["Digest"] = (
        "sha-256=" + base64.b64encode(bytes.fromhex(stored["sha256"])).decode()
    )
    # a deposited file is never a page of this origin
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Link"] = signposting.header(  # Signposting: the item it belongs to
        signposting.file_header(
            absolute(url_for("public.item", item_id=item_id)),
            absolute(url_for("exports.linkset", item_id=item_id)),
        )
    )
    return response


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    spec.components.schema("Item", schema=ItemView)
    spec.components.schema("WithdrawItem", schema=schemas.WithdrawItemBody)
    item_id = path_param("item_id")
    spec.path(
        "/api/v1/items/{item_id}",
        operations={
            "get": operation(
                "An item in the repository",
                ref("Item"),
                params=[item_id],
                errors=("404",),
                operation_id="getItem",
                links={
                    "downloadItemFile": {
                        "operationId": "downloadItemFile",
                        "parameters": {
                            "item_id": "$request.path.item_id",
                            "file_id": "$response.body#/representations/0/files/0/id",
                        },
                    },
                    **links(
                        "$request.path.item_id",
                        {"itemEvents": ("item_id",), "withdrawItem": ("item_id",)},
                    ),
                },
            )
        },
    )
    spec.path(
        "/api/v1/items/{item_id}/actions/withdraw",
        operations={
            "post": operation(
                "Withdraw an item (managers): a tombstone stays and OAI-PMH reports it deleted",
                ref("Item"),
                body=ref("WithdrawItem"),
                params=[item_id],
                errors=("400", "401", "403", "404", "409", "422"),
                operation_id="withdrawItem",
            )
        },
    )
    spec.path(
        "/api/v1/items/{item_id}/files/{file_id}",
        operations={
            "get": {
                **operation(
                    "Download an item's file, honouring access rights",
                    None,
                    params=[item_id, path_param("file_id")],
                    errors=("404",),
                    operation_id="downloadItemFile",
                ),
            }
        },
    )
