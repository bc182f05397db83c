"""REST API v1: new versions of archived items, and managers' corrections of their metadata."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from gateway.api import schemas
from gateway.api.arguments import json_body
from gateway.api.spec import DEPOSIT_LINKS, links, operation, path_param, ref
from gateway.auth.guard import requires
from gateway.rpc import rpc
from kernel.contracts.inventory import CorrectionView
from kernel.policy.permissions import Action

versions_api = Blueprint("versions_api", __name__, url_prefix="/api/v1")


@versions_api.post("/items/<item_id>/versions")
@requires(Action.DEPOSIT)
def start_new_version(item_id):
    """A draft deposit prefilled from the item's, to become its next version once archived."""
    with rpc() as services:
        deposit = services.intake.start_new_version(actor=g.actor, item_id=item_id)
    response = jsonify(deposit)
    response.status_code = 201
    response.headers["Location"] = url_for("deposits_api.get_deposit", deposit_id=deposit["id"])
    return response


@versions_api.post("/items/<item_id>/corrections")
@requires(Action.CORRECT_ITEMS)
def correct_item(item_id):
    body = json_body(schemas.CorrectItemBody)
    with rpc() as services:
        return jsonify(services.inventory.correct_item(actor=g.actor, item_id=item_id, **body))


@versions_api.get("/items/<item_id>/corrections")
@requires(Action.SEE_ALL_DEPOSITS)
def item_corrections(item_id):
    with rpc() as services:
        return jsonify(services.inventory.item_corrections(actor=g.actor, item_id=item_id))


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    spec.components.schema("CorrectItem", schema=schemas.CorrectItemBody)
    spec.components.schema("Correction", schema=CorrectionView)
    item_id = path_param("item_id")
    spec.path(
        "/api/v1/items/{item_id}/versions",
        operations={
            "post": operation(
                "Start a new version of an archived item (its depositor, or staff): a draft "
                "prefilled with its metadata, under the same profile; 409 names a new version "
                "of the work already in progress",
                ref("Deposit"),
                status="201",
                params=[item_id],
                errors=("401", "403", "404", "409", "422", "429"),
                operation_id="startNewVersion",
                links=links("$response.body#/id", DEPOSIT_LINKS),
            )
        },
    )
    spec.path(
        "/api/v1/items/{item_id}/corrections",
        operations={
            "post": operation(
                "Correct an archived item's metadata (managers), with a reason kept in its "
                "history; harvesters see the item changed",
                ref("Item"),
                body=ref("CorrectItem"),
                params=[item_id],
                errors=("400", "401", "403", "404", "409", "422"),
                operation_id="correctItem",
            ),
            "get": operation(
                "The item's corrections, newest first (staff)",
                None,
                params=[item_id],
                errors=("401", "403", "404"),
                operation_id="itemCorrections",
            ),
        },
    )
