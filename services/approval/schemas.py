"""Approval's models as the contracts' view dictionaries."""
from services.approval.models import Decision, Reason, ReviewTask


def decision_view(decision: Decision | None) -> dict | None:
    if decision is None:
        return None
    return {"decision": decision.decision, "actor": decision.actor,
            "reason_code": decision.reason_code, "note": decision.note, "at": decision.at}


def task_view(task: ReviewTask, decision: Decision | None = None) -> dict:
    return {
        "deposit_id": task.deposit_id, "revision": task.revision, "state": task.state,
        "title": task.title, "profile_id": task.profile_id, "depositor": task.depositor,
        "assignee": task.assignee, "decision": decision_view(decision),
        "created_at": task.created_at,
    }


def reason_view(reason: Reason) -> dict:
    return {"kind": reason.kind, "code": reason.code, "label": reason.label,
            "is_default": reason.is_default}
