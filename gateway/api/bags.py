"""REST API v1: an item's preservation export (BagIt bags, services/inventory/bags.py)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from gateway.api.spec import operation, path_param, ref
from gateway.auth.guard import requires
from gateway.rpc import rpc
from kernel.contracts.inventory import BagExportView
from kernel.policy.permissions import Action

bags_api = Blueprint("bags_api", __name__, url_prefix="/api/v1")


@bags_api.get("/items/<item_id>/bag")
@requires(Action.SEE_ALL_DEPOSITS)
def bag_export(item_id):
    """When the item was last exported as a bag, where to, and any request pending."""
    with rpc() as services:
        return jsonify(services.inventory.bag_export(actor=g.actor, item_id=item_id))


@bags_api.post("/items/<item_id>/bag")
@requires(Action.EXPORT_BAGS)
def request_bag_export(item_id):
    """Export the item at the bag export's next run: 202, since a big item takes a while."""
    with rpc() as services:
        return jsonify(services.inventory.request_bag_export(actor=g.actor, item_id=item_id)), 202


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    spec.components.schema("BagExport", schema=BagExportView)
    spec.path(
        "/api/v1/items/{item_id}/bag",
        operations={
            "get": operation(
                "The item's last preservation export (staff)",
                ref("BagExport"),
                params=[path_param("item_id")],
                errors=("401", "403", "404"),
                operation_id="bagExport",
            ),
            "post": operation(
                "Export the item as a BagIt bag at the next run of the bag export (managers)",
                ref("BagExport"),
                "202",
                params=[path_param("item_id")],
                errors=("401", "403", "404"),
                operation_id="requestBagExport",
            ),
        },
    )
