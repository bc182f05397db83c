"""Review tasks and decisions, free of nameko. Approval is where every decision is made,
automatic ones included: those are recorded as decisions by the system."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from services.common.auth import SYSTEM, has_role, person_ref
from services.common.contracts import DepositSnapshotSchema, new_event
from services.common.db import UnitOfWork
from services.common.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from services.approval.models import Decision, Reason, ReviewTask

EVENT_FOR = {"approve": "deposit_approved", "decline": "deposit_declined",
             "return": "deposit_returned"}
REASON_KIND = {"decline": "decline", "return": "return"}

DEFAULT_REASONS = (
    ("decline", "out_of_scope", "The work is outside the repository's scope", True),
    ("decline", "duplicate", "The work is already in the repository", False),
    ("return", "metadata_incomplete", "The description needs more detail", True),
    ("return", "wrong_file", "A file is missing or is the wrong version", False),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def seed_reasons(session) -> None:
    if session.scalar(select(func.count()).select_from(Reason)):
        return
    for kind, code, label, is_default in DEFAULT_REASONS:
        session.add(Reason(kind=kind, code=code, label=label, is_default=is_default))


def open_review(uow: UnitOfWork, key: str, event: dict) -> None:
    """A deposit passed its checks: queue it, or decide at once where no approver is needed."""
    if not uow.first_time(key) or not event["passed"]:
        return
    deposit = event["deposit"]
    existing = _task(uow.session, deposit["id"], deposit["revision"])
    if existing is not None:  # cancelled before the checks finished
        return
    task = ReviewTask(
        deposit_id=deposit["id"], revision=deposit["revision"], state="open",
        title=deposit["title"], profile_id=deposit["profile"]["id"],
        depositor=deposit["depositor"], approver_groups=deposit["profile"]["approval"]["approver_groups"],
        # kept as it travels (ISO dates), so the JSON column can hold an embargo date
        deposit=DepositSnapshotSchema().dump(deposit), created_at=_now(), updated_at=_now())
    uow.session.add(task)
    uow.session.flush()
    if deposit["mediated_by"]:
        mediator = deposit["mediated_by"]
        _decide(uow, task, "approve", SYSTEM, "staff_mediated",
                f"Staff-mediated by {mediator['name'] or mediator['id']}")
    elif deposit["profile"]["approval"]["mode"] == "automatic":
        _decide(uow, task, "approve", SYSTEM, "automatic", "Approved automatically by the profile")


def _task(session, deposit_id: str, revision: int | None = None, lock: bool = False):
    query = select(ReviewTask).where(ReviewTask.deposit_id == deposit_id)
    if revision is not None:
        query = query.where(ReviewTask.revision == revision)
    query = query.order_by(ReviewTask.revision.desc()).limit(1)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def may_review(actor: dict, task: ReviewTask) -> bool:
    if has_role(actor, "manager"):
        return True
    if not has_role(actor, "approver"):
        return False
    groups = set(task.approver_groups or ())
    return not groups or bool(groups.intersection(actor.get("groups") or ()))


def _reviewable(session, actor: dict, deposit_id: str) -> ReviewTask:
    if not has_role(actor, "approver", "manager"):
        raise Forbidden("Reviewing needs the approver role.")
    task = _task(session, deposit_id, lock=True)
    if task is None:
        raise NotFound("That deposit is not waiting for review.")
    if not may_review(actor, task):
        raise Forbidden("You are not an approver for this deposit's profile.")
    return task


def _require_undecided(task: ReviewTask) -> None:
    if task.state == "decided":
        raise Conflict("Someone has already decided on this deposit.",
                       fields={"state": ["decided"]})
    if task.state == "cancelled":
        raise Conflict("The depositor withdrew this deposit.", fields={"state": ["cancelled"]})


def claim(uow: UnitOfWork, actor: dict, deposit_id: str) -> ReviewTask:
    task = _reviewable(uow.session, actor, deposit_id)
    _require_undecided(task)
    if task.state == "claimed" and task.assignee_id != actor["id"]:
        raise Conflict(f"{task.assignee['name'] or task.assignee_id} has claimed this deposit.",
                       fields={"assignee": ["claimed by someone else"]})
    task.state, task.assignee_id, task.assignee = "claimed", actor["id"], person_ref(actor)
    task.updated_at = _now()
    return task


def release(uow: UnitOfWork, actor: dict, deposit_id: str) -> ReviewTask:
    task = _reviewable(uow.session, actor, deposit_id)
    _require_undecided(task)
    if task.state != "claimed":
        raise Conflict("This deposit is not claimed.", fields={"state": [task.state]})
    if task.assignee_id != actor["id"] and not has_role(actor, "manager"):
        raise Forbidden("Only the approver who claimed it, or a manager, may release it.")
    task.state, task.assignee_id, task.assignee = "open", None, None
    task.updated_at = _now()
    return task


def decide(uow: UnitOfWork, actor: dict, deposit_id: str, decision: str,
           reason_code: str | None, note: str | None) -> ReviewTask:
    """Decide, taking the claim at once if the task is open. The task row is locked,
    so of two approvers deciding together one wins and the other gets a conflict."""
    task = _reviewable(uow.session, actor, deposit_id)
    _require_undecided(task)
    if task.state == "claimed" and task.assignee_id != actor["id"]:
        raise Conflict(f"{task.assignee['name'] or task.assignee_id} has claimed this deposit.",
                       fields={"assignee": ["claimed by someone else"]})
    reason_code = _reason(uow.session, decision, reason_code)
    task.assignee_id, task.assignee = actor["id"], person_ref(actor)
    _decide(uow, task, decision, person_ref(actor), reason_code, note)
    return task


def _reason(session, decision: str, reason_code: str | None) -> str | None:
    kind = REASON_KIND.get(decision)
    if kind is None:
        return reason_code
    reasons = session.scalars(select(Reason).where(Reason.kind == kind)).all()
    if reason_code is None:
        default = next((r for r in reasons if r.is_default), None)
        return default.code if default else None
    if reason_code not in {r.code for r in reasons}:
        raise InvalidInput("That is not a known reason.", fields={"reason_code": [
            f"must be one of: {', '.join(sorted(r.code for r in reasons))}"]})
    return reason_code


def _decide(uow: UnitOfWork, task: ReviewTask, decision: str, actor: dict,
            reason_code: str | None, note: str | None) -> None:
    now = _now()
    uow.session.add(Decision(deposit_id=task.deposit_id, revision=task.revision, decision=decision,
                             actor=actor, reason_code=reason_code, note=note, at=now))
    task.state, task.updated_at = "decided", now
    event_type = EVENT_FOR[decision]
    uow.emit(event_type, new_event(
        "approval", event_type, deposit_id=task.deposit_id, revision=task.revision,
        deposit=task.deposit,
        decision={"decision": decision, "actor": actor, "reason_code": reason_code,
                  "note": note, "at": now}))


def cancel(uow: UnitOfWork, deposit_id: str, revision: int, strict: bool) -> None:
    """Stop review of a withdrawn deposit. Strict (the withdraw RPC) refuses once decided;
    a task not yet opened is recorded as cancelled so that it never opens."""
    task = _task(uow.session, deposit_id, revision, lock=True)
    if task is None:
        uow.session.add(ReviewTask(deposit_id=deposit_id, revision=revision, state="cancelled",
                                   created_at=_now(), updated_at=_now()))
        return
    if task.state == "decided":
        if strict:
            raise Conflict("An approver has already decided on this deposit.",
                           fields={"state": ["decided"]})
        return
    task.state, task.updated_at = "cancelled", _now()


def decision_of(session, task: ReviewTask) -> Decision | None:
    return session.scalar(select(Decision).where(Decision.deposit_id == task.deposit_id,
                                                 Decision.revision == task.revision))


def list_tasks(session, actor: dict, state: str, assignee: str | None, page: int,
               per_page: int) -> dict:
    if not has_role(actor, "approver", "manager"):
        raise Forbidden("The review queue needs the approver role.")
    query = select(ReviewTask)
    if state != "all":
        query = query.where(ReviewTask.state == state)
    else:
        query = query.where(ReviewTask.state != "cancelled")
    if assignee == "me":
        query = query.where(ReviewTask.assignee_id == actor["id"])
    elif assignee:
        query = query.where(ReviewTask.assignee_id == assignee)
    if not has_role(actor, "manager"):
        # JSON group lists are filtered here for the few rows on a page; issue 5 indexes them
        tasks = [t for t in session.scalars(query.order_by(ReviewTask.created_at)).all()
                 if may_review(actor, t)]
        total = len(tasks)
        tasks = tasks[(page - 1) * per_page: page * per_page]
    else:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        tasks = session.scalars(query.order_by(ReviewTask.created_at)
                                .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": tasks, "page": page, "per_page": per_page, "total": total}


def list_reasons(session) -> list[Reason]:
    return session.scalars(select(Reason).order_by(Reason.kind, Reason.code)).all()
