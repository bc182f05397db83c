"""Approval: the review queue and every decision. Entrypoints only; the work is in review.py."""

from datetime import timedelta

from nameko.timer import timer

from kernel.contracts.actors import Actor
from kernel.contracts.approval import (
    AddNoteRequest,
    AssignRequest,
    BulkDecisionRequest,
    BulkResultView,
    CancelReviewRequest,
    ListReviewsRequest,
    QueuePageView,
    QueueRequest,
    ReasonKeyRequest,
    ReasonView,
    ReleaseClaimsRequest,
    ReleasedClaimsView,
    ReviewActionRequest,
    ReviewDetailView,
    ReviewFileRequest,
    ReviewMetadataRequest,
    ReviewPageView,
    ReviewTaskView,
    SaveReasonRequest,
    StaffNoteView,
)
from kernel.contracts.deposits import DepositRequest, DepositView
from kernel.contracts.events import dedupe_key
from kernel.contracts.exceptions import LodgeError
from kernel.contracts.inventory import StoredFileView
from kernel.contracts.rpc import ActorRequest, rpc_contract
from kernel.platform.config import get_settings
from kernel.platform.dead_letters import DeadLetterDesk
from kernel.platform.dependencies import Store
from kernel.platform.messaging import ServiceRpc, handles_event, rpc
from services.approval import review
from services.approval.schemas import note_view, reason_view, task_view

CLAIM_SWEEP_SECONDS = 5


def claim_idle_time() -> timedelta:
    """LODGE_CLAIM_IDLE_MINUTES (default four hours): how long a claim may lie untouched."""
    return timedelta(minutes=get_settings().timers.claim_idle_minutes)


class ApprovalService(DeadLetterDesk):
    name = "approval"

    store = Store()
    intake = ServiceRpc("intake")

    @handles_event("validation", "deposit_validated")
    def on_deposit_validated(self, event):
        with self.store.unit_of_work() as uow:
            review.open_review(uow, dedupe_key("validation", "deposit_validated", event), event)

    @handles_event("intake", "deposit_withdrawn")
    def on_deposit_withdrawn(self, event):
        with self.store.unit_of_work() as uow:
            if uow.first_time(dedupe_key("intake", "deposit_withdrawn", event)):
                review.cancel(uow, event["deposit_id"], event["revision"], strict=False)

    @rpc
    @rpc_contract(CancelReviewRequest)
    def cancel_review(self, deposit_id, revision):
        with self.store.unit_of_work() as uow:
            review.cancel(uow, deposit_id, revision, strict=True)

    @rpc
    @rpc_contract(ListReviewsRequest, ReviewPageView())
    def list_reviews(self, actor, state, assignee, page, per_page):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            result = review.list_tasks(session, actor, state, assignee, page, per_page)
            result["items"] = [
                task_view(t, review.decision_of(session, t), actor) for t in result["items"]
            ]
            return result

    @rpc
    @rpc_contract(DepositRequest, ReviewTaskView())
    def claim(self, actor, deposit_id):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            return task_view(review.claim(uow, actor, deposit_id), actor=actor)

    @rpc
    @rpc_contract(DepositRequest, ReviewTaskView())
    def release(self, actor, deposit_id):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            return task_view(review.release(uow, actor, deposit_id), actor=actor)

    @rpc
    @rpc_contract(ReleaseClaimsRequest, ReleasedClaimsView())
    def release_claims_of(self, actor, person_id):
        with self.store.unit_of_work() as uow:
            released = review.release_claims_of(uow, Actor.from_wire(actor), person_id)
            return {"released": released}

    @rpc
    @rpc_contract(ReviewActionRequest, ReviewTaskView())
    def approve(self, actor, deposit_id, reason_code, note):
        actor = Actor.from_wire(actor)
        return self._decide(actor, deposit_id, "approve", reason_code, note)

    @rpc
    @rpc_contract(ReviewActionRequest, ReviewTaskView())
    def decline(self, actor, deposit_id, reason_code, note):
        actor = Actor.from_wire(actor)
        return self._decide(actor, deposit_id, "decline", reason_code, note)

    @rpc
    @rpc_contract(ReviewActionRequest, ReviewTaskView())
    def return_for_changes(self, actor, deposit_id, reason_code, note):
        actor = Actor.from_wire(actor)
        return self._decide(actor, deposit_id, "return", reason_code, note)

    def _decide(self, actor, deposit_id, decision, reason_code, note):
        with self.store.unit_of_work() as uow:
            task = review.decide(uow, actor, deposit_id, decision, reason_code, note)
            return task_view(task, review.decision_of(uow.session, task), actor)

    @rpc
    @rpc_contract(BulkDecisionRequest, BulkResultView(many=True))
    def decide_many(self, actor, deposit_ids, decision, reason_code, note):
        """One decision for several deposits, each in its own transaction: one refused
        deposit does not hold back the others. Each result carries the error code the
        single action would have raised ("ok" when it was decided)."""
        actor = Actor.from_wire(actor)
        results = []
        for deposit_id in dict.fromkeys(deposit_ids):
            try:
                task = self._decide(actor, deposit_id, decision, reason_code, note)
            except LodgeError as error:
                results.append(
                    {
                        "deposit_id": deposit_id,
                        "code": error.code,
                        "message": error.message,
                        "task": None,
                    }
                )
            else:
                results.append(
                    {"deposit_id": deposit_id, "code": "ok", "message": "", "task": task}
                )
        return results

    @rpc
    @rpc_contract(QueueRequest, QueuePageView())
    def queue(self, actor, **filters):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            result = review.queue(session, actor, **filters)
            result["items"] = [task_view(t, actor=actor) for t in result["items"]]
            result["reasons"] = [reason_view(r) for r in review.list_reasons(session)]
            return result

    @rpc
    @rpc_contract(AssignRequest, ReviewTaskView())
    def assign(self, actor, deposit_id, assignee):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            task = review.assign(uow, actor, deposit_id, Actor.from_wire(assignee))
            return task_view(task, actor=actor)

    @rpc
    @rpc_contract(DepositRequest, ReviewDetailView())
    def get_review(self, actor, deposit_id):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            task = review.review_task(session, actor, deposit_id)
            own = review.is_own(actor, task)
            # staff notes are never shown to the depositor, an approver's own deposit included
            return {
                "task": task_view(task, review.decision_of(session, task), actor),
                "notes": [] if own else [note_view(n) for n in review.notes(session, deposit_id)],
                "changes": review.changes_since_return(session, task),
                "may_decide": review.may_decide(actor, task),
            }

    @rpc
    @rpc_contract(ReviewFileRequest, StoredFileView())
    def review_file(self, actor, deposit_id, file_id):
        actor = Actor.from_wire(actor)
        with self.store.reading() as session:
            return review.review_file(session, actor, deposit_id, file_id)

    @rpc
    @rpc_contract(AddNoteRequest, StaffNoteView())
    def add_note(self, actor, deposit_id, text):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            return note_view(review.add_note(uow, actor, deposit_id, text))

    @rpc
    @rpc_contract(ReviewMetadataRequest, DepositView())
    def edit_metadata(self, actor, deposit_id, metadata):
        """The approver's edit goes through intake (validated against the profile, kept in
        the history); the task keeps the edited metadata to hand on at approval."""
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            task = review.start_metadata_edit(uow, actor, deposit_id)
            deposit = self.intake.review_metadata(
                actor=actor.to_wire(), deposit_id=deposit_id, metadata=metadata
            )
            review.keep_edited_metadata(task, deposit)
            return deposit

    @timer(interval=CLAIM_SWEEP_SECONDS)
    def release_idle_claims(self):
        with self.store.unit_of_work() as uow:
            review.release_idle_claims(uow, claim_idle_time())

    @rpc
    @rpc_contract(ActorRequest, ReasonView(many=True))
    def list_reasons(self, actor):
        with self.store.reading() as session:
            return [reason_view(r) for r in review.list_reasons(session)]

    @rpc
    @rpc_contract(SaveReasonRequest, ReasonView())
    def save_reason(self, actor, kind, code, label, is_default):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            return reason_view(review.save_reason(uow, actor, kind, code, label, is_default))

    @rpc
    @rpc_contract(ReasonKeyRequest)
    def delete_reason(self, actor, kind, code):
        actor = Actor.from_wire(actor)
        with self.store.unit_of_work() as uow:
            review.delete_reason(uow, actor, kind, code)
