"""REST API for staff: usage statistics as a COUNTER Release 5.1 Item Report."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from gateway.api.arguments import query_args
from gateway.api.spec import operation, query
from gateway.auth.guard import requires
from gateway.presenters.counter import item_report
from gateway.rpc import rpc
from kernel.contracts.usage import MAX_REPORT_MONTHS, MONTH_PATTERN, UsagePeriodSchema
from kernel.platform.config import get_settings
from kernel.policy.permissions import Action

usage_api = Blueprint("usage_api", __name__, url_prefix="/api/v1/staff/usage")


@usage_api.get("/items")
@requires(Action.SEE_USAGE)
def item_usage_report():
    args = query_args(UsagePeriodSchema)
    with rpc() as services:
        figures = services.inventory.usage_report(actor=g.actor, **args)
    settings = get_settings()
    return jsonify(
        item_report(
            figures,
            platform=settings.site.repository_name,
            namespace=settings.oai.repository_id,
            landing_url=lambda item_id: (
                settings.site.base_url + url_for("public.item", item_id=item_id)
            ),
        )
    )


def describe(spec) -> None:
    """This module's path in the OpenAPI document."""
    spec.path(
        "/api/v1/staff/usage/items",
        operations={
            "get": operation(
                "Views and downloads per item and month as a COUNTER Release 5.1 Item Report "
                "(IR) in JSON: Total_ and Unique_Item_Investigations and _Requests, robots and "
                f"double clicks left out; begin and end are months (YYYY-MM), at most "
                f"{MAX_REPORT_MONTHS} apart (staff, managers)",
                None,
                params=[*map(month_param, ("begin", "end")), query("collection")],
                errors=("401", "403", "404", "422"),
                operation_id="itemUsageReport",
            )
        },
    )


def month_param(name: str) -> dict:
    return {**query(name), "required": True, "schema": {"type": "string", "pattern": MONTH_PATTERN}}
