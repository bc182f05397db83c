"""REST API v1: the review queue, decisions, notes, reasons and the approver's tools."""

from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, request

from gateway import reviewers
from gateway.api import schemas
from gateway.api.arguments import json_body, query_args
from gateway.api.spec import links, operation, path_param, query, ref
from gateway.auth.guard import requires
from gateway.http.errors import STATUS
from gateway.rpc import rpc
from kernel.contracts.approval import (
    DECISIONS,
    QUEUE_SORTS,
    QUEUE_TABS,
    TASK_STATE_FILTERS,
    QueuePageView,
    ReasonView,
    ReviewDetailView,
    ReviewPageView,
    ReviewTaskView,
)
from kernel.contracts.exceptions import Conflict, InvalidInput, NotFound
from kernel.contracts.letters import LetterPreviewView
from kernel.policy.permissions import Action

reviews_api = Blueprint("reviews_api", __name__, url_prefix="/api/v1")

ERROR_STATUS = {error.code: status for error, status in STATUS.items()}


CHECKS_RUNNING = "This deposit's checks are still running; it can be reviewed once they finish."


def checks_running(services, deposit_id: str) -> bool:
    """Approval knows a deposit only once its checks are done: one it does not know may
    exist all the same, submitted and being checked."""
    try:
        deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    except NotFound:
        return False
    return deposit["status"] == "submitted"


def decide(services, deposit_id: str, decision: str, body: dict) -> dict:
    """An approver's decision; metadata in the body is saved (validated, recorded) first."""
    if body.get("metadata") is not None:
        services.approval.edit_metadata(
            actor=g.actor, deposit_id=deposit_id, metadata=body["metadata"]
        )
    return getattr(services.approval, reviewers.DECISION_METHODS[decision])(
        actor=g.actor, deposit_id=deposit_id, reason_code=body["reason_code"], note=body["note"]
    )


@reviews_api.get("/reviews")
@requires(Action.REVIEW)
def list_reviews():
    args = query_args(schemas.ListReviewsQuery)
    with rpc() as services:
        return jsonify(services.approval.list_reviews(actor=g.actor, **args))


@reviews_api.get("/reviews/queue")
@requires(Action.REVIEW)
def review_queue():
    """The approver's queue: a tab, filters, a sort, a bounded page, and counts per tab."""
    args = query_args(schemas.QueueQuery)
    with rpc() as services:
        return jsonify(services.approval.queue(actor=g.actor, **args))


@reviews_api.get("/reviews/<deposit_id>")
@requires(Action.REVIEW)
def get_review(deposit_id):
    with rpc() as services:
        review = services.approval.get_review(actor=g.actor, deposit_id=deposit_id)
        review["deposit"] = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    return jsonify(review)


@reviews_api.post("/reviews/<deposit_id>/actions/<action>")
@requires(Action.DECIDE)
def review_action(deposit_id, action):
    body = json_body(schemas.ReviewActionBody)
    with rpc() as services:
        try:
            return review_action_on(services, deposit_id, action, body)
        except NotFound:
            if checks_running(services, deposit_id):
                raise Conflict(CHECKS_RUNNING, fields={"status": ["submitted"]}) from None
            raise


def review_action_on(services, deposit_id: str, action: str, body: dict):
    if action in ("claim", "release"):
        return jsonify(getattr(services.approval, action)(actor=g.actor, deposit_id=deposit_id))
    if action == "assign":
        if not body["assignee"]:
            raise InvalidInput(
                "Name the colleague to assign it to.", fields={"assignee": ["required"]}
            )
        colleague = reviewers.person(body["assignee"], "assignee")
        return jsonify(
            services.approval.assign(actor=g.actor, deposit_id=deposit_id, assignee=colleague)
        )
    if action in reviewers.DECISION_METHODS:
        return jsonify(decide(services, deposit_id, action, body))
    abort(
        404,
        description=f"There is no review action {action!r}; use claim, release, "
        "assign, approve, decline or return.",
    )


@reviews_api.post("/reviews/bulk")
@requires(Action.DECIDE)
def bulk_decision():
    """One decision for several deposits; each result has the status its single action
    would have answered, so some may be 409 or 403 while the rest succeed."""
    body = json_body(schemas.BulkDecisionBody)
    with rpc() as services:
        results = services.approval.decide_many(actor=g.actor, **body)
        for result in results:
            if result["code"] == NotFound.code and checks_running(services, result["deposit_id"]):
                result.update(code=Conflict.code, message=CHECKS_RUNNING)
    for result in results:
        result["status"] = 200 if result["code"] == "ok" else ERROR_STATUS.get(result["code"], 400)
    return jsonify(results=results, decided=sum(result["status"] == 200 for result in results))


@reviews_api.get("/reviews/<deposit_id>/colleagues")
@requires(Action.REVIEW)
def review_colleagues(deposit_id):
    with rpc() as services:
        task = services.approval.get_review(actor=g.actor, deposit_id=deposit_id)["task"]
    return jsonify(
        items=[
            {"id": p["id"], "username": p["username"], "name": p["name"]}
            for p in reviewers.colleagues(task["approver_groups"])
        ]
    )


@reviews_api.get("/reviews/<deposit_id>/notes")
@requires(Action.REVIEW)
def list_notes(deposit_id):
    with rpc() as services:
        return jsonify(
            items=services.approval.get_review(actor=g.actor, deposit_id=deposit_id)["notes"]
        )


@reviews_api.post("/reviews/<deposit_id>/notes")
@requires(Action.DECIDE)
def add_note(deposit_id):
    body = json_body(schemas.NoteBody)
    with rpc() as services:
        note = services.approval.add_note(actor=g.actor, deposit_id=deposit_id, text=body["text"])
    return jsonify(note), 201


@reviews_api.put("/reviews/<deposit_id>/metadata")
@requires(Action.DECIDE)
def edit_metadata(deposit_id):
    body = json_body(schemas.ReviewMetadataBody)
    with rpc() as services:
        return jsonify(
            services.approval.edit_metadata(
                actor=g.actor, deposit_id=deposit_id, metadata=body["metadata"]
            )
        )


@reviews_api.post("/reviews/<deposit_id>/letter-preview")
@requires(Action.DECIDE)
def letter_preview(deposit_id):
    body = json_body(schemas.LetterPreviewBody)
    with rpc() as services:
        review = services.approval.get_review(actor=g.actor, deposit_id=deposit_id)
        return jsonify(
            reviewers.letter_preview(
                services, g.actor, review, body["decision"], body["reason_code"], body["note"]
            )
        )


@reviews_api.get("/reviews/<deposit_id>/files/<file_id>")
@requires(Action.REVIEW)
def review_file(deposit_id, file_id):
    return reviewers.send_review_file(deposit_id, file_id, download="download" in request.args)


# --- reasons ------------------------------------------------------------------------------


@reviews_api.get("/reasons")
@requires(Action.REVIEW)
def list_reasons():
    with rpc() as services:
        return jsonify(items=services.approval.list_reasons(actor=g.actor))


@reviews_api.put("/reasons/<kind>/<code>")
@requires(Action.MANAGE_REASONS)
def save_reason(kind, code):
    body = json_body(schemas.ReasonBody)
    with rpc() as services:
        return jsonify(services.approval.save_reason(actor=g.actor, kind=kind, code=code, **body))


@reviews_api.delete("/reasons/<kind>/<code>")
@requires(Action.MANAGE_REASONS)
def delete_reason(kind, code):
    with rpc() as services:
        services.approval.delete_reason(actor=g.actor, kind=kind, code=code)
    return "", 204


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    for name, schema in {
        "ReviewTask": ReviewTaskView,
        "ReviewPage": ReviewPageView,
        "Reason": ReasonView,
        "ReviewAction": schemas.ReviewActionBody,
        "QueuePage": QueuePageView,
        "ReviewDetail": ReviewDetailView,
        "BulkDecision": schemas.BulkDecisionBody,
        "Note": schemas.NoteBody,
        "ReviewMetadata": schemas.ReviewMetadataBody,
        "LetterPreviewRequest": schemas.LetterPreviewBody,
        "LetterPreview": LetterPreviewView,
        "ReasonBody": schemas.ReasonBody,
    }.items():
        spec.components.schema(name, schema=schema)
    deposit_id = path_param("deposit_id")
    spec.path(
        "/api/v1/reviews",
        operations={
            "get": operation(
                "The review queue",
                ref("ReviewPage"),
                params=[
                    query("state", enum=TASK_STATE_FILTERS),
                    query("assignee"),
                    query("page", "integer"),
                    query("per_page", "integer"),
                ],
                errors=("401", "403", "422"),
                operation_id="listReviews",
            )
        },
    )
    spec.path(
        "/api/v1/reviews/{deposit_id}/actions/{action}",
        operations={
            "post": operation(
                "Claim, release, assign, approve, decline or return a deposit (403 on one's own "
                "deposit: nobody reviews what they deposited or mediated)",
                ref("ReviewTask"),
                body=ref("ReviewAction"),
                params=[
                    deposit_id,
                    {
                        **path_param("action"),
                        "schema": {
                            "type": "string",
                            "enum": ["claim", "release", "assign", *DECISIONS],
                        },
                    },
                ],
                errors=("400", "401", "403", "404", "409", "422"),
                operation_id="reviewAction",
                links=links("$request.path.deposit_id", {"getDeposit": ("deposit_id",)}),
            )
        },
    )
    spec.path(
        "/api/v1/reviews/queue",
        operations={
            "get": operation(
                "The approver's queue: tabs with counts, filters, sort, bounded pages",
                ref("QueuePage"),
                params=[
                    query("tab", enum=QUEUE_TABS),
                    query("profile_id"),
                    query("collection"),
                    query("depositor"),
                    query("older_than_days", "integer"),
                    query("overdue", "boolean"),
                    query("sort", enum=QUEUE_SORTS),
                    query("page", "integer"),
                    query("per_page", "integer"),
                ],
                errors=("401", "403", "422"),
                operation_id="reviewQueue",
            )
        },
    )
    spec.path(
        "/api/v1/reviews/bulk",
        operations={
            "post": operation(
                "One decision for several deposits; a status "
                "per deposit (403 for the caller's own)",
                None,
                body=ref("BulkDecision"),
                errors=("401", "403", "422"),
                operation_id="bulkDecision",
            )
        },
    )
    spec.path(
        "/api/v1/reviews/{deposit_id}",
        operations={
            "get": operation(
                "A deposit under review: task, staff notes, changes since return, the deposit",
                ref("ReviewDetail"),
                params=[deposit_id],
                errors=("401", "403", "404"),
                operation_id="getReview",
            )
        },
    )
    spec.path(
        "/api/v1/reviews/{deposit_id}/notes",
        operations={
            "get": operation(
                "Staff-only notes",
                None,
                params=[deposit_id],
                errors=("401", "403", "404"),
                operation_id="reviewNotes",
            ),
            "post": operation(
                "Add a staff-only note",
                ref("StaffNote"),
                "201",
                ref("Note"),
                params=[deposit_id],
                errors=("401", "403", "404", "422"),
                operation_id="addReviewNote",
            ),
        },
    )
    spec.path(
        "/api/v1/reviews/{deposit_id}/metadata",
        operations={
            "put": operation(
                "Correct the metadata before deciding (recorded in the history)",
                ref("Deposit"),
                body=ref("ReviewMetadata"),
                params=[deposit_id],
                errors=("401", "403", "404", "409", "422"),
                operation_id="editReviewMetadata",
            )
        },
    )
    spec.path(
        "/api/v1/reviews/{deposit_id}/letter-preview",
        operations={
            "post": operation(
                "The letter a decision would send, not sent",
                ref("LetterPreview"),
                body=ref("LetterPreviewRequest"),
                params=[deposit_id],
                errors=("401", "403", "404"),
                operation_id="letterPreview",
            )
        },
    )
    spec.path(
        "/api/v1/reviews/{deposit_id}/colleagues",
        operations={
            "get": operation(
                "Approvers a task can be assigned to",
                None,
                params=[deposit_id],
                errors=("401", "403", "404"),
                operation_id="reviewColleagues",
            )
        },
    )
    spec.path(
        "/api/v1/reviews/{deposit_id}/files/{file_id}",
        operations={
            "get": operation(
                "A file under review, inline for previewable media",
                None,
                params=[deposit_id, path_param("file_id")],
                errors=("401", "403", "404"),
                operation_id="reviewFile",
            )
        },
    )
    spec.path(
        "/api/v1/reasons",
        operations={
            "get": operation(
                "Decline and return reasons",
                None,
                errors=("401", "403"),
                operation_id="listReasons",
            )
        },
    )
    spec.path(
        "/api/v1/reasons/{kind}/{code}",
        operations={
            "put": operation(
                "Add or relabel a reason (managers)",
                ref("Reason"),
                body=ref("ReasonBody"),
                params=[path_param("kind"), path_param("code")],
                errors=("401", "403", "422"),
                operation_id="saveReason",
                links={
                    "deleteReason": {
                        "operationId": "deleteReason",
                        "parameters": {"kind": "$request.path.kind", "code": "$request.path.code"},
                    }
                },
            ),
            "delete": operation(
                "Remove a reason (managers)",
                None,
                "204",
                params=[path_param("kind"), path_param("code")],
                errors=("401", "403", "404", "409"),
                operation_id="deleteReason",
            ),
        },
    )
