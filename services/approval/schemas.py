"""Approval's models as the contracts' view dictionaries."""

from datetime import UTC, datetime

from kernel.contracts.actors import Actor
from kernel.contracts.approval import PENDING_STATES
from services.approval.models import Decision, Reason, ReviewTask, StaffNote
from services.approval.review import is_own


def decision_view(decision: Decision | None) -> dict | None:
    if decision is None:
        return None
    return {
        "decision": decision.decision,
        "actor": decision.actor,
        "reason_code": decision.reason_code,
        "note": decision.note,
        "at": decision.at,
    }


def task_view(
    task: ReviewTask, decision: Decision | None = None, actor: Actor | None = None
) -> dict:
    """The task as `actor` sees it: `own_deposit` marks one they may not decide on."""
    return {
        "deposit_id": task.deposit_id,
        "revision": task.revision,
        "state": task.state,
        "title": task.title,
        "profile_id": task.profile_id,
        "depositor": task.depositor,
        "assignee": task.assignee,
        "decision": decision_view(decision),
        "created_at": task.created_at,
        "collection": task.collection,
        "approver_groups": task.approver_groups,
        "due_at": task.due_at,
        "overdue": bool(
            task.due_at and task.state in PENDING_STATES and task.due_at < datetime.now(UTC)
        ),
        "claimed_at": task.claimed_at,
        "own_deposit": actor is not None and is_own(actor, task),
    }


def note_view(note: StaffNote) -> dict:
    return {"id": note.id, "author": note.author, "text": note.text, "at": note.at}


def reason_view(reason: Reason) -> dict:
    return {
        "kind": reason.kind,
        "code": reason.code,
        "label": reason.label,
        "is_default": reason.is_default,
    }
