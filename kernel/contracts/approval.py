"""Approval: decisions, review tasks and their queue, staff notes and the reasons an
approver gives."""

from __future__ import annotations

from marshmallow import fields, validate

from kernel.contracts.deposits import DepositRequest
from kernel.contracts.fields import (
    REASON_CODE,
    DateTime,
    Lenient,
    Strict,
    Text,
    page_of,
)
from kernel.contracts.people import ActorSchema, PersonRefSchema
from kernel.contracts.rpc import ActorRequest, PageRequest

DECISIONS = ("approve", "decline", "return")
TASK_STATES = ("open", "claimed", "decided", "cancelled")
PENDING_STATES = ("open", "claimed")  # a task still waiting for a decision
TASK_STATE_FILTERS = (*TASK_STATES, "all")
QUEUE_TABS = ("mine", "unassigned", "others", "all")
QUEUE_SORTS = ("oldest", "newest", "due")
# the queue counts each tab up to this many tasks; one more means "more than this"
QUEUE_COUNT_LIMIT = 1000
REASON_KINDS = ("decline", "return")


class DecisionSchema(Lenient):
    decision = fields.Str(required=True, validate=validate.OneOf(DECISIONS))
    actor = fields.Nested(PersonRefSchema, required=True)
    reason_code = fields.Str(allow_none=True, load_default=None)
    # the reason's label when it was given: what the depositor was told, even if relabelled
    reason_label = fields.Str(allow_none=True, load_default=None)
    note = fields.Str(allow_none=True, load_default=None)
    at = DateTime(required=True)


class ReviewTaskView(Lenient):
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)
    state = fields.Str(required=True)
    title = fields.Str(load_default="")
    profile_id = fields.Str(required=True)
    depositor = fields.Nested(PersonRefSchema, required=True)
    assignee = fields.Nested(PersonRefSchema, allow_none=True)
    decision = fields.Nested(DecisionSchema, allow_none=True)
    created_at = DateTime(required=True)
    # the queue's columns
    collection = fields.Str(load_default="")
    approver_groups = fields.List(fields.Str(), load_default=list)
    due_at = DateTime(allow_none=True, load_default=None)
    overdue = fields.Bool(load_default=False)
    claimed_at = DateTime(allow_none=True, load_default=None)
    # the asking approver deposited it (or mediated it): they may see it, never decide on it
    own_deposit = fields.Bool(
        load_default=False,
        metadata={
            "description": "The caller deposited or mediated it, so may not claim, edit or decide "
            "on it (403)."
        },
    )


ReviewPageView = page_of(ReviewTaskView)


class ReasonView(Lenient):
    kind = fields.Str(required=True, validate=validate.OneOf(REASON_KINDS))
    code = fields.Str(required=True)
    label = fields.Str(required=True)
    is_default = fields.Bool(load_default=False)


class ListReviewsRequest(ActorRequest, PageRequest):
    state = fields.Str(
        load_default="open",
        validate=validate.OneOf(TASK_STATE_FILTERS),
    )
    assignee = fields.Str(load_default=None, allow_none=True)


class ReviewActionRequest(DepositRequest):
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = Text("note", load_default=None, allow_none=True)


class CancelReviewRequest(Strict):
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)


class QueueRequest(ActorRequest):
    tab = fields.Str(load_default="all", validate=validate.OneOf(QUEUE_TABS))
    profile_id = fields.Str(load_default=None, allow_none=True)
    collection = fields.Str(load_default=None, allow_none=True)
    depositor = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    older_than_days = fields.Int(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=3650)
    )
    overdue = fields.Bool(load_default=False)
    sort = fields.Str(load_default="oldest", validate=validate.OneOf(QUEUE_SORTS))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=400))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


class QueueCountsView(Lenient):
    mine = fields.Int(required=True)
    unassigned = fields.Int(required=True)
    others = fields.Int(required=True)
    all = fields.Int(required=True)
    overdue = fields.Int(required=True)


class QueuePageView(Lenient):
    items = fields.List(fields.Nested(ReviewTaskView), required=True)
    page = fields.Int(required=True)
    per_page = fields.Int(required=True)
    total = fields.Int(required=True)
    counts = fields.Nested(QueueCountsView, required=True)
    count_limit = fields.Int(
        required=True,
        metadata={
            "description": "Counts (and total) are exact up to this; count_limit + 1 means "
            "more than count_limit."
        },
    )
    has_more = fields.Bool(required=True, metadata={"description": "A next page exists."})
    # with the tasks, so a page deciding on several asks approval once
    reasons = fields.List(
        fields.Nested(ReasonView),
        required=True,
        metadata={"description": "The decline and return reasons a decision on these may give."},
    )


class AssignRequest(DepositRequest):
    assignee = fields.Nested(ActorSchema, required=True)


class ReleaseClaimsRequest(ActorRequest):
    """Every claim one person holds goes back to the pool (they left, or lost the role)."""

    person_id = fields.Str(required=True, validate=validate.Length(min=1, max=100))


class ReleasedClaimsView(Lenient):
    released = fields.Int(required=True)


class BulkDecisionRequest(ActorRequest):
    deposit_ids = fields.List(fields.Str(), required=True, validate=validate.Length(min=1, max=100))
    decision = fields.Str(required=True, validate=validate.OneOf(DECISIONS))
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = Text("note", load_default=None, allow_none=True)


class BulkResultView(Lenient):
    deposit_id = fields.Str(required=True)
    code = fields.Str(required=True)  # "ok", or the error code the single action raises
    message = fields.Str(load_default="")
    task = fields.Nested(ReviewTaskView, allow_none=True, load_default=None)


class StaffNoteView(Lenient):
    id = fields.Int(required=True)
    author = fields.Nested(PersonRefSchema, required=True)
    text = fields.Str(required=True)
    at = DateTime(required=True)


class AddNoteRequest(DepositRequest):
    text = fields.Str(required=True, validate=validate.Length(min=1, max=10000))


class ReviewMetadataRequest(DepositRequest):
    metadata = fields.Dict(required=True)


class RevisionChangesView(Lenient):
    """What changed in a resubmitted deposit since the revision an approver returned."""

    from_revision = fields.Int(required=True)
    to_revision = fields.Int(required=True)
    metadata = fields.List(fields.Dict(), required=True)  # {field, before, after}
    files_added = fields.List(fields.Str(), required=True)
    files_removed = fields.List(fields.Str(), required=True)
    files_changed = fields.List(fields.Str(), required=True)


class ReviewDetailView(Lenient):
    task = fields.Nested(ReviewTaskView, required=True)
    notes = fields.List(fields.Nested(StaffNoteView), required=True)
    changes = fields.Nested(RevisionChangesView, allow_none=True, load_default=None)
    may_decide = fields.Bool(required=True)


class ReviewFileRequest(DepositRequest):
    file_id = fields.Str(required=True)


class SaveReasonRequest(ActorRequest):
    kind = fields.Str(required=True, validate=validate.OneOf(REASON_KINDS))
    code = fields.Str(
        required=True,
        validate=validate.Regexp(REASON_CODE, error="lower-case letters, digits and underscores"),
    )
    label = Text("label", required=True, min_length=1)
    is_default = fields.Bool(load_default=False)


class ReasonKeyRequest(ActorRequest):
    kind = fields.Str(required=True, validate=validate.OneOf(REASON_KINDS))
    code = fields.Str(required=True)


decision_schema = DecisionSchema()
