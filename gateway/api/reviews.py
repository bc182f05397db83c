"""REST API v1: the review queue, decisions, notes, reasons and the approver's tools."""
from __future__ import annotations

from flask import abort, g, jsonify, request

from gateway import reviewers
from gateway.api import api, json_body, query_args, rpc, schemas
from gateway.auth import requires
from gateway.errors import STATUS
from kernel.contracts.exceptions import Conflict, InvalidInput, NotFound
from kernel.policy.permissions import Action

ERROR_STATUS = {error.code: status for error, status in STATUS.items()}
DECISION_METHODS = {"approve": "approve", "decline": "decline", "return": "return_for_changes"}


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
        services.approval.edit_metadata(actor=g.actor, deposit_id=deposit_id,
                                        metadata=body["metadata"])
    return getattr(services.approval, DECISION_METHODS[decision])(
        actor=g.actor, deposit_id=deposit_id, reason_code=body["reason_code"], note=body["note"])


@api.get("/reviews")
@requires(Action.REVIEW)
def list_reviews():
    args = query_args(schemas.ListReviewsQuery)
    with rpc() as services:
        return jsonify(services.approval.list_reviews(actor=g.actor, **args))


@api.get("/reviews/queue")
@requires(Action.REVIEW)
def review_queue():
    """The approver's queue: a tab, filters, a sort, a bounded page, and counts per tab."""
    args = query_args(schemas.QueueQuery)
    with rpc() as services:
        return jsonify(services.approval.queue(actor=g.actor, **args))


@api.get("/reviews/<deposit_id>")
@requires(Action.REVIEW)
def get_review(deposit_id):
    with rpc() as services:
        review = services.approval.get_review(actor=g.actor, deposit_id=deposit_id)
        review["deposit"] = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    return jsonify(review)


@api.post("/reviews/<deposit_id>/actions/<action>")
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
        return jsonify(getattr(services.approval, action)(actor=g.actor,
                                                          deposit_id=deposit_id))
    if action == "assign":
        if not body["assignee"]:
            raise InvalidInput("Name the colleague to assign it to.",
                               fields={"assignee": ["required"]})
        colleague = reviewers.person(body["assignee"], "assignee")
        return jsonify(services.approval.assign(actor=g.actor, deposit_id=deposit_id,
                                                assignee=colleague))
    if action in DECISION_METHODS:
        return jsonify(decide(services, deposit_id, action, body))
    abort(404, description=f"There is no review action {action!r}; use claim, release, "
                           "assign, approve, decline or return.")


@api.post("/reviews/bulk")
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
    return jsonify(results=results,
                   decided=sum(result["status"] == 200 for result in results))


@api.get("/reviews/<deposit_id>/colleagues")
@requires(Action.REVIEW)
def review_colleagues(deposit_id):
    with rpc() as services:
        task = services.approval.get_review(actor=g.actor, deposit_id=deposit_id)["task"]
    return jsonify(items=[{"id": p["id"], "username": p["username"], "name": p["name"]}
                          for p in reviewers.colleagues(task["approver_groups"])])


@api.get("/reviews/<deposit_id>/notes")
@requires(Action.REVIEW)
def list_notes(deposit_id):
    with rpc() as services:
        return jsonify(items=services.approval.get_review(actor=g.actor,
                                                          deposit_id=deposit_id)["notes"])


@api.post("/reviews/<deposit_id>/notes")
@requires(Action.DECIDE)
def add_note(deposit_id):
    body = json_body(schemas.NoteBody)
    with rpc() as services:
        note = services.approval.add_note(actor=g.actor, deposit_id=deposit_id, text=body["text"])
    return jsonify(note), 201


@api.put("/reviews/<deposit_id>/metadata")
@requires(Action.DECIDE)
def edit_metadata(deposit_id):
    body = json_body(schemas.ReviewMetadataBody)
    with rpc() as services:
        return jsonify(services.approval.edit_metadata(actor=g.actor, deposit_id=deposit_id,
                                                       metadata=body["metadata"]))


@api.post("/reviews/<deposit_id>/letter-preview")
@requires(Action.DECIDE)
def letter_preview(deposit_id):
    body = json_body(schemas.LetterPreviewBody)
    with rpc() as services:
        review = services.approval.get_review(actor=g.actor, deposit_id=deposit_id)
        return jsonify(reviewers.letter_preview(services, g.actor, review, body["decision"],
                                                body["reason_code"], body["note"]))


@api.get("/reviews/<deposit_id>/files/<file_id>")
@requires(Action.REVIEW)
def review_file(deposit_id, file_id):
    return reviewers.send_review_file(deposit_id, file_id, download="download" in request.args)


# --- reasons ------------------------------------------------------------------------------

@api.get("/reasons")
@requires(Action.REVIEW)
def list_reasons():
    with rpc() as services:
        return jsonify(items=services.approval.list_reasons(actor=g.actor))


@api.put("/reasons/<kind>/<code>")
@requires(Action.MANAGE_REASONS)
def save_reason(kind, code):
    body = json_body(schemas.ReasonBody)
    with rpc() as services:
        return jsonify(services.approval.save_reason(actor=g.actor, kind=kind, code=code, **body))


@api.delete("/reasons/<kind>/<code>")
@requires(Action.MANAGE_REASONS)
def delete_reason(kind, code):
    with rpc() as services:
        services.approval.delete_reason(actor=g.actor, kind=kind, code=code)
    return "", 204
