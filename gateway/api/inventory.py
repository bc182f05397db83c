"""REST API for the repository's contents: search, collections, fixity and file events."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for
from marshmallow import fields, validate, validates_schema

from gateway.api.arguments import json_body, query_args
from gateway.api.spec import links, operation, path_param, query, ref
from gateway.auth.guard import requires
from gateway.rpc import rpc
from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import Conflict
from kernel.contracts.fields import LOWER_CASE_ID, Strict, Text
from kernel.contracts.inventory import (
    SEARCH_RESULT_CAP,
    CollectionSummaryView,
    CollectionView,
    FixityReportView,
    SearchPageView,
    check_within_results,
)
from kernel.policy.permissions import Action

inventory_api = Blueprint("inventory_api", __name__, url_prefix="/api/v1")


class PageQuery(Strict):
    """A page that starts within the first SEARCH_RESULT_CAP results."""

    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))

    @validates_schema
    def _within_results(self, data, **kwargs):
        check_within_results(data["page"], data["per_page"])


class SearchQuery(PageQuery):
    q = Text("title", load_default=None)
    year = fields.Int(load_default=None, validate=validate.Range(min=0, max=9999))
    collection = fields.Str(load_default=None)


class CreateCollectionBody(Strict):
    id = fields.Str(required=True, validate=LOWER_CASE_ID)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    description = fields.Str(load_default="", validate=validate.Length(max=10000))
    parent_id = fields.Str(load_default=None, allow_none=True)


class UpdateCollectionBody(Strict):
    """Rename, describe or move: fields left out keep their value."""

    name = fields.Str(validate=validate.Length(min=1, max=200))
    description = fields.Str(validate=validate.Length(max=10000))
    parent_id = fields.Str(allow_none=True)


def delete_collection_unless_targeted(services, actor: Actor, collection_id: str) -> None:
    """Profiles (intake's) name the collection their items go into; deleting one a
    profile still names would leave its approved deposits with nowhere to go."""
    users = [
        p["name"]
        for p in services.intake.list_profiles(actor=actor, include_inactive=True)
        if p["target_collection"] == collection_id
    ]
    if users:
        raise Conflict(
            f"Deposit profiles put items into this collection: {', '.join(users)}. "
            "Point them at another collection first."
        )
    services.inventory.delete_collection(actor=actor, collection_id=collection_id)


@inventory_api.get("/collections")
def list_collections():
    with rpc() as services:
        return jsonify(items=services.inventory.list_collections())


@inventory_api.get("/search")
def search_items():
    args = query_args(SearchQuery)
    with rpc() as services:
        return jsonify(
            services.inventory.search_items(
                query=args["q"],
                year=args["year"],
                collection=args["collection"],
                page=args["page"],
                per_page=args["per_page"],
            )
        )


@inventory_api.post("/collections")
@requires(Action.MANAGE_COLLECTIONS)
def create_collection():
    body = json_body(CreateCollectionBody)
    with rpc() as services:
        created = services.inventory.save_collection(
            actor=g.actor,
            collection_id=body["id"],
            name=body["name"],
            description=body["description"],
            parent_id=body["parent_id"],
            create=True,
        )
    response = jsonify(created)
    response.status_code = 201
    response.headers["Location"] = url_for(
        "inventory_api.get_collection", collection_id=created["id"]
    )
    return response


@inventory_api.get("/collections/<collection_id>")
def get_collection(collection_id):
    with rpc() as services:
        return jsonify(services.inventory.get_collection(collection_id=collection_id))


@inventory_api.patch("/collections/<collection_id>")
@requires(Action.MANAGE_COLLECTIONS)
def update_collection(collection_id):
    body = json_body(UpdateCollectionBody)
    with rpc() as services:
        current = services.inventory.get_collection(collection_id=collection_id)
        return jsonify(
            services.inventory.save_collection(
                actor=g.actor,
                collection_id=collection_id,
                create=False,
                name=body.get("name", current["name"]),
                description=body.get("description", current["description"]),
                parent_id=body.get("parent_id", current["parent_id"]),
            )
        )


@inventory_api.delete("/collections/<collection_id>")
@requires(Action.MANAGE_COLLECTIONS)
def delete_collection(collection_id):
    with rpc() as services:
        delete_collection_unless_targeted(services, g.actor, collection_id)
    return "", 204


@inventory_api.get("/collections/<collection_id>/items")
def collection_items(collection_id):
    """Items in the collection and the collections below it, newest first."""
    args = query_args(PageQuery)
    with rpc() as services:
        return jsonify(
            services.inventory.search_items(query=None, year=None, collection=collection_id, **args)
        )


@inventory_api.get("/fixity")
@requires(Action.SEE_ALL_DEPOSITS)
def fixity_report():
    with rpc() as services:
        return jsonify(services.inventory.fixity_report(actor=g.actor))


@inventory_api.post("/fixity/audit")
@requires(Action.SEE_ALL_DEPOSITS)
def run_fixity_audit():
    """Check the next batch now, as the timer would: the files checked longest ago."""
    with rpc() as services:
        return jsonify(services.inventory.run_fixity_audit(actor=g.actor))


@inventory_api.get("/items/<item_id>/events")
@requires(Action.SEE_ALL_DEPOSITS)
def item_file_events(item_id):
    """Each file's PREMIS-style event log: ingestion, replication, fixity checks."""
    with rpc() as services:
        return jsonify(items=services.inventory.file_events(actor=g.actor, item_id=item_id))


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    for name, schema in {
        "Collection": CollectionSummaryView,
        "SearchPage": SearchPageView,
        "CollectionView": CollectionView,
        "CreateCollection": CreateCollectionBody,
        "UpdateCollection": UpdateCollectionBody,
        "FixityReport": FixityReportView,
    }.items():
        spec.components.schema(name, schema=schema)
    collection_id = path_param("collection_id")
    spec.path(
        "/api/v1/collections",
        operations={
            "get": operation(
                "Every collection, with its OAI set and item count",
                None,
                errors=(),
                operation_id="listCollections",
            ),
            "post": operation(
                "Create a collection (managers)",
                ref("Collection"),
                "201",
                ref("CreateCollection"),
                errors=("400", "401", "403", "409", "422"),
                operation_id="createCollection",
                links=links(
                    "$response.body#/id",
                    {
                        "getCollection": ("collection_id",),
                        "updateCollection": ("collection_id",),
                        "collectionItems": ("collection_id",),
                        "deleteCollection": ("collection_id",),
                    },
                ),
            ),
        },
    )
    paging = [query("page", "integer"), query("per_page", "integer")]
    cap = f"{SEARCH_RESULT_CAP:,}"
    spec.path(
        "/api/v1/search",
        operations={
            "get": operation(
                "Search items by title, creator, keyword and year (PostgreSQL: web search "
                f"syntax). Best match first when at most {cap} items match, else newest "
                f"first; `total` counts up to {cap} (`total_exact` false: more match), "
                f"`years` are counted only then, and a page must start within the first "
                f"{cap} results (422 otherwise). Withdrawn items are not found.",
                ref("SearchPage"),
                params=[query("q"), query("year", "integer"), query("collection")] + paging,
                errors=("404", "422"),
                operation_id="searchItems",
            )
        },
    )
    spec.path(
        "/api/v1/collections/{collection_id}",
        operations={
            "get": operation(
                "A collection with its ancestors and children",
                ref("CollectionView"),
                params=[collection_id],
                errors=("404",),
                operation_id="getCollection",
            ),
            "patch": operation(
                "Rename, describe or move a collection (managers)",
                ref("Collection"),
                body=ref("UpdateCollection"),
                params=[collection_id],
                errors=("400", "401", "403", "404", "422"),
                operation_id="updateCollection",
            ),
            "delete": operation(
                "Delete an empty collection (managers)",
                None,
                "204",
                params=[collection_id],
                errors=("401", "403", "404", "409"),
                operation_id="deleteCollection",
            ),
        },
    )
    spec.path(
        "/api/v1/collections/{collection_id}/items",
        operations={
            "get": operation(
                "Items in a collection and below it, newest first, withdrawn ones left "
                f"out; paged as a search is (within the first {cap})",
                ref("SearchPage"),
                params=[collection_id] + paging,
                errors=("404", "422"),
                operation_id="collectionItems",
            )
        },
    )
    spec.path(
        "/api/v1/fixity",
        operations={
            "get": operation(
                "The fixity report (staff)",
                ref("FixityReport"),
                errors=("401", "403"),
                operation_id="fixityReport",
            )
        },
    )
    spec.path(
        "/api/v1/fixity/audit",
        operations={
            "post": operation(
                "Re-hash the next batch of files now (staff)",
                None,
                errors=("401", "403"),
                operation_id="runFixityAudit",
            )
        },
    )
    spec.path(
        "/api/v1/items/{item_id}/events",
        operations={
            "get": operation(
                "Each file's preservation event log (staff)",
                None,
                params=[path_param("item_id")],
                errors=("401", "403", "404"),
                operation_id="itemEvents",
            )
        },
    )
