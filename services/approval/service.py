"""Approval: the review queue and every decision. Entrypoints only; the work is in review.py."""

from services.common import contracts as c
from services.common.dependencies import Store
from services.common.messaging import handles_event, rpc
from services.approval import review
from services.approval.schemas import reason_view, task_view


class ApprovalService:
    name = "approval"

    store = Store()

    @handles_event("validation", "deposit_validated")
    def on_deposit_validated(self, event):
        with self.store.unit_of_work() as uow:
            review.open_review(uow, c.dedupe_key("validation", "deposit_validated", event), event)

    @handles_event("intake", "deposit_withdrawn")
    def on_deposit_withdrawn(self, event):
        with self.store.unit_of_work() as uow:
            if uow.first_time(c.dedupe_key("intake", "deposit_withdrawn", event)):
                review.cancel(uow, event["deposit_id"], event["revision"], strict=False)

    @rpc
    @c.rpc_contract(c.CancelReviewRequest)
    def cancel_review(self, deposit_id, revision):
        with self.store.unit_of_work() as uow:
            review.cancel(uow, deposit_id, revision, strict=True)

    @rpc
    @c.rpc_contract(c.ListReviewsRequest, c.ReviewPage())
    def list_reviews(self, actor, state, assignee, page, per_page):
        with self.store.reading() as session:
            result = review.list_tasks(session, actor, state, assignee, page, per_page)
            result["items"] = [task_view(t, review.decision_of(session, t)) for t in result["items"]]
            return result

    @rpc
    @c.rpc_contract(c.DepositRequest, c.ReviewTaskSchema())
    def claim(self, actor, deposit_id):
        with self.store.unit_of_work() as uow:
            return task_view(review.claim(uow, actor, deposit_id))

    @rpc
    @c.rpc_contract(c.DepositRequest, c.ReviewTaskSchema())
    def release(self, actor, deposit_id):
        with self.store.unit_of_work() as uow:
            return task_view(review.release(uow, actor, deposit_id))

    @rpc
    @c.rpc_contract(c.ReviewActionRequest, c.ReviewTaskSchema())
    def approve(self, actor, deposit_id, reason_code, note):
        return self._decide(actor, deposit_id, "approve", reason_code, note)

    @rpc
    @c.rpc_contract(c.ReviewActionRequest, c.ReviewTaskSchema())
    def decline(self, actor, deposit_id, reason_code, note):
        return self._decide(actor, deposit_id, "decline", reason_code, note)

    @rpc
    @c.rpc_contract(c.ReviewActionRequest, c.ReviewTaskSchema())
    def return_for_changes(self, actor, deposit_id, reason_code, note):
        return self._decide(actor, deposit_id, "return", reason_code, note)

    def _decide(self, actor, deposit_id, decision, reason_code, note):
        with self.store.unit_of_work() as uow:
            task = review.decide(uow, actor, deposit_id, decision, reason_code, note)
            return task_view(task, review.decision_of(uow.session, task))

    @rpc
    @c.rpc_contract(c.ActorRequest, c.ReasonSchema(many=True))
    def list_reasons(self, actor):
        with self.store.reading() as session:
            return [reason_view(r) for r in review.list_reasons(session)]
