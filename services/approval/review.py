"""Review tasks and decisions, free of nameko. Approval is where every decision is made,
automatic ones included: those are recorded as decisions by the system."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import ScalarSelect

from kernel.contracts.actors import SYSTEM, Actor
from kernel.contracts.approval import PENDING_STATES, QUEUE_COUNT_LIMIT
from kernel.contracts.deposits import DepositSnapshotSchema
from kernel.contracts.events import new_event
from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from kernel.platform.db import UnitOfWork, insert_new
from kernel.platform.metrics import DECISIONS
from kernel.policy.permissions import Action, can, is_own_deposit, require
from services.approval.models import (
    ANY_APPROVER,
    ApproverGroupSet,
    Decision,
    Reason,
    ReviewTask,
    StaffNote,
    groups_key,
)

EVENT_FOR = {
    "approve": "deposit_approved",
    "decline": "deposit_declined",
    "return": "deposit_returned",
}
REASON_KIND = {"decline": "decline", "return": "return"}

DEFAULT_REASONS = (
    ("decline", "out_of_scope", "The work is outside the repository's scope", True),
    ("decline", "duplicate", "The work is already in the repository", False),
    ("return", "metadata_incomplete", "The description needs more detail", True),
    ("return", "wrong_file", "A file is missing or is the wrong version", False),
)


def _now() -> datetime:
    return datetime.now(UTC)


def seed_reasons(session: Session) -> None:
    if session.scalar(select(func.count()).select_from(Reason)):
        return
    for kind, code, label, is_default in DEFAULT_REASONS:
        session.add(Reason(kind=kind, code=code, label=label, is_default=is_default))


def open_review(uow: UnitOfWork, key: str, event: dict[str, Any]) -> None:
    """A deposit passed its checks: queue it, or decide at once where no approver is needed."""
    if not uow.first_time(key) or not event["passed"]:
        return
    deposit = event["deposit"]
    existing = _task(uow.session, deposit["id"], deposit["revision"])
    if existing is not None:  # cancelled before the checks finished
        return
    rule, now = deposit["profile"]["approval"], _now()
    turnaround = rule.get("turnaround_days")
    task = ReviewTask(
        deposit_id=deposit["id"],
        revision=deposit["revision"],
        state="open",
        title=deposit["title"],
        profile_id=deposit["profile"]["id"],
        collection=deposit["profile"]["target_collection"],
        depositor=deposit["depositor"],
        depositor_id=deposit["depositor"]["id"],
        depositor_name=deposit["depositor"].get("name") or "",
        approver_groups=rule["approver_groups"],
        created_at=now,
        updated_at=now,
        # kept as it travels (ISO dates), so the JSON column can hold an embargo date
        deposit=DepositSnapshotSchema().dump(deposit),
        due_at=now + timedelta(days=turnaround) if turnaround else None,
        groups_key=groups_key(rule["approver_groups"]),
    )
    uow.session.add(task)
    _remember_group_set(uow.session, task.groups_key, rule["approver_groups"])
    uow.session.flush()
    if deposit["mediated_by"]:
        mediator = deposit["mediated_by"]
        # a campus system registered to deposit for patrons is no member of staff
        by_system = bool(deposit.get("origin"))
        _decide(
            uow,
            task,
            "approve",
            SYSTEM.person_ref(),
            "system_mediated" if by_system else "staff_mediated",
            f"{'Deposited by the campus system' if by_system else 'Staff-mediated by'} "
            f"{mediator['name'] or mediator['id']}",
        )
    elif deposit["profile"]["approval"]["mode"] == "automatic":
        _decide(
            uow,
            task,
            "approve",
            SYSTEM.person_ref(),
            "automatic",
            "Approved automatically by the profile",
        )


def _remember_group_set(session: Session, key: str, approver_groups: list[str]) -> None:
    """Record a profile's group set once; two workers recording it together both succeed."""
    for group in sorted(set(approver_groups)) or [ANY_APPROVER]:
        insert_new(session, ApproverGroupSet, groups_key=key, group_name=group)


def _task(
    session: Session, deposit_id: str, revision: int | None = None, lock: bool = False
) -> ReviewTask | None:
    query = select(ReviewTask).where(ReviewTask.deposit_id == deposit_id)
    if revision is not None:
        query = query.where(ReviewTask.revision == revision)
    query = query.order_by(ReviewTask.revision.desc()).limit(1)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def may_review(actor: Actor, task: ReviewTask) -> bool:
    if can(actor, Action.SUPERVISE_REVIEWS):
        return True
    if not can(actor, Action.REVIEW):
        return False
    groups = task.approver_groups or ()
    return not groups or actor.in_any_group(groups)


def _owners(task: ReviewTask) -> dict[str, str | None]:
    """Who made the deposit: its depositor and, for one made for a patron, its mediator."""
    return {
        "depositor_id": task.depositor_id,
        "mediator_id": ((task.deposit or {}).get("mediated_by") or {}).get("id"),
    }


def is_own(person: Actor, task: ReviewTask) -> bool:
    """The person deposited it, or deposited it for the patron: they may not decide on it."""
    return is_own_deposit(person, **_owners(task))


def may_decide(actor: Actor, task: ReviewTask) -> bool:
    return may_review(actor, task) and can(actor, Action.DECIDE, **_owners(task))


def _reviewable(session: Session, actor: Actor, deposit_id: str) -> ReviewTask:
    """The task locked for work on it: claim, assign, release, decide, edit, note."""
    if not can(actor, Action.DECIDE):
        raise Forbidden("Reviewing needs the approver role.")
    task = _task(session, deposit_id, lock=True)
    if task is None:
        raise NotFound("That deposit is not waiting for review.")
    if not may_review(actor, task):
        raise Forbidden("You are not an approver for this deposit's profile.")
    require(actor, Action.DECIDE, **_owners(task))
    return task


def _require_undecided(task: ReviewTask) -> None:
    if task.state == "decided":
        raise Conflict(
            "Someone has already decided on this deposit.", fields={"state": ["decided"]}
        )
    if task.state == "cancelled":
        raise Conflict("The depositor withdrew this deposit.", fields={"state": ["cancelled"]})


def _claimant(task: ReviewTask) -> str | None:
    return (task.assignee or {}).get("name") or task.assignee_id


def claim(uow: UnitOfWork, actor: Actor, deposit_id: str) -> ReviewTask:
    task = _reviewable(uow.session, actor, deposit_id)
    _require_undecided(task)
    if task.state == "claimed" and task.assignee_id != actor.id:
        raise Conflict(
            f"{_claimant(task)} has claimed this deposit.",
            fields={"assignee": ["claimed by someone else"]},
        )
    _assign(task, actor)
    return task


def _assign(task: ReviewTask, person: Actor) -> None:
    task.state, task.assignee_id, task.assignee = "claimed", person.id, person.person_ref()
    task.updated_at = task.claimed_at = _now()


def assign(uow: UnitOfWork, actor: Actor, deposit_id: str, colleague: Actor) -> ReviewTask:
    """Hand a task to a colleague who may review it: from the pool, from oneself, or
    (a manager) from anyone."""
    task = _reviewable(uow.session, actor, deposit_id)
    _require_undecided(task)
    if (
        task.state == "claimed"
        and task.assignee_id != actor.id
        and not can(actor, Action.SUPERVISE_REVIEWS)
    ):
        raise Conflict(
            f"{_claimant(task)} has claimed this deposit.",
            fields={"assignee": ["claimed by someone else"]},
        )
    if not may_review(colleague, task):
        raise InvalidInput(
            "That person is not an approver for this deposit's profile.",
            fields={"assignee": ["not an approver of this profile"]},
        )
    if is_own(colleague, task):
        raise InvalidInput(
            "That person deposited it and may not review it.", fields={"assignee": ["deposited it"]}
        )
    _assign(task, colleague)
    return task


def release(uow: UnitOfWork, actor: Actor, deposit_id: str) -> ReviewTask:
    task = _reviewable(uow.session, actor, deposit_id)
    _require_undecided(task)
    if task.state != "claimed":
        raise Conflict("This deposit is not claimed.", fields={"state": [task.state]})
    if task.assignee_id != actor.id and not can(actor, Action.SUPERVISE_REVIEWS):
        raise Forbidden("Only the approver who claimed it, or a manager, may release it.")
    task.state, task.assignee_id, task.assignee, task.claimed_at = "open", None, None, None
    task.updated_at = _now()
    return task


def release_claims_of(uow: UnitOfWork, actor: Actor, person_id: str) -> int:
    """Every undecided claim `person_id` holds goes back to the pool; their deposits and
    decisions stay. Someone else's claims are a supervisor's to release; a repeat finds
    none and releases nothing."""
    require(actor, Action.SUPERVISE_REVIEWS)
    result = uow.session.execute(
        update(ReviewTask)
        .where(ReviewTask.state == "claimed", ReviewTask.assignee_id == person_id)
        .values(state="open", assignee_id=None, assignee=None, claimed_at=None, updated_at=_now())
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount


def release_idle_claims(uow: UnitOfWork, idle: timedelta) -> int:
    """Claims nobody has touched for `idle` go back to the pool."""
    result = uow.session.execute(
        update(ReviewTask)
        .where(ReviewTask.state == "claimed", ReviewTask.claimed_at < _now() - idle)
        .values(state="open", assignee_id=None, assignee=None, claimed_at=None, updated_at=_now())
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount


def decide(
    uow: UnitOfWork,
    actor: Actor,
    deposit_id: str,
    decision: str,
    reason_code: str | None,
    note: str | None,
) -> ReviewTask:
    """Decide, taking the claim at once if the task is open. The task row is locked,
    so of two approvers deciding together one wins and the other gets a conflict."""
    task = _reviewable(uow.session, actor, deposit_id)
    if task.state == "decided":
        earlier = decision_of(uow.session, task)
        if earlier is not None and earlier.decision == decision and earlier.actor["id"] == actor.id:
            return task  # the same decision sent again (a retry): nothing more happens
    _require_undecided(task)
    if task.state == "claimed" and task.assignee_id != actor.id:
        raise Conflict(
            f"{_claimant(task)} has claimed this deposit.",
            fields={"assignee": ["claimed by someone else"]},
        )
    reason_code, reason_label = _reason(uow.session, decision, reason_code)
    task.assignee_id, task.assignee = actor.id, actor.person_ref()
    _decide(uow, task, decision, actor.person_ref(), reason_code, note, reason_label)
    return task


def _reason(
    session: Session, decision: str, reason_code: str | None
) -> tuple[str | None, str | None]:
    """The decision's reason code (the kind's default when none is given) and its label."""
    kind = REASON_KIND.get(decision)
    if kind is None:
        return reason_code, None
    reasons = {r.code: r for r in session.scalars(select(Reason).where(Reason.kind == kind))}
    if reason_code is None:
        reason_code = next((code for code, r in reasons.items() if r.is_default), None)
    elif reason_code not in reasons:
        raise InvalidInput(
            "That is not a known reason.",
            fields={"reason_code": [f"must be one of: {', '.join(sorted(reasons))}"]},
        )
    return reason_code, reasons[reason_code].label if reason_code else None


def _decide(
    uow: UnitOfWork,
    task: ReviewTask,
    decision: str,
    actor: dict[str, str],
    reason_code: str | None,
    note: str | None,
    reason_label: str | None = None,
) -> None:
    now = _now()
    uow.session.add(
        Decision(
            deposit_id=task.deposit_id,
            revision=task.revision,
            decision=decision,
            actor=actor,
            reason_code=reason_code,
            note=note,
            at=now,
        )
    )
    task.state, task.updated_at = "decided", now
    uow.after_commit(DECISIONS.labels(decision).inc)
    event_type = EVENT_FOR[decision]
    uow.emit(
        event_type,
        new_event(
            "approval",
            event_type,
            deposit_id=task.deposit_id,
            revision=task.revision,
            deposit=task.deposit,
            decision={
                "decision": decision,
                "actor": actor,
                "reason_code": reason_code,
                "reason_label": reason_label,
                "note": note,
                "at": now,
            },
        ),
    )


def cancel(uow: UnitOfWork, deposit_id: str, revision: int, strict: bool) -> None:
    """Stop review of a withdrawn deposit. Strict (the withdraw RPC) refuses once decided;
    a task not yet opened is recorded as cancelled so that it never opens."""
    task = _task(uow.session, deposit_id, revision, lock=True)
    if task is None:
        uow.session.add(
            ReviewTask(
                deposit_id=deposit_id,
                revision=revision,
                state="cancelled",
                created_at=_now(),
                updated_at=_now(),
            )
        )
        return
    if task.state == "decided":
        if strict:
            raise Conflict(
                "An approver has already decided on this deposit.", fields={"state": ["decided"]}
            )
        return
    task.state, task.updated_at = "cancelled", _now()


def decision_of(session: Session, task: ReviewTask) -> Decision | None:
    return session.scalar(
        select(Decision).where(
            Decision.deposit_id == task.deposit_id, Decision.revision == task.revision
        )
    )


def _visible_to(query: Select[tuple[ReviewTask]], actor: Actor) -> Select[tuple[ReviewTask]]:
    """Only tasks of profiles whose approver groups the actor is in; managers see all."""
    if can(actor, Action.SUPERVISE_REVIEWS):
        return query
    return query.where(_of_group_sets(_group_names(actor)))


def _group_names(actor: Actor) -> list[str]:
    """The approver groups an actor reviews for: their own, and any profile's that names none."""
    return [*actor.groups, ANY_APPROVER]


def _of_group_sets(groups: list[str] | BindParameter[list[str]]) -> ColumnElement[bool]:
    """Tasks of profiles whose approver groups include one of `groups` (names, or a bound
    parameter that will hold them)."""
    return ReviewTask.groups_key.in_(
        select(ApproverGroupSet.groups_key).where(ApproverGroupSet.group_name.in_(groups))
    )


def _require_reviewer(actor: Actor) -> None:
    if not can(actor, Action.REVIEW):
        raise Forbidden("The review queue needs the approver role.")


def list_tasks(
    session: Session, actor: Actor, state: str, assignee: str | None, page: int, per_page: int
) -> dict[str, Any]:
    """Tasks by state and assignee, oldest first: the API's plain listing."""
    _require_reviewer(actor)
    query = select(ReviewTask)
    if state != "all":
        query = query.where(ReviewTask.state == state)
    else:
        query = query.where(ReviewTask.state != "cancelled")
    if assignee == "me":
        query = query.where(ReviewTask.assignee_id == actor.id)
    elif assignee:
        query = query.where(ReviewTask.assignee_id == assignee)
    query = _visible_to(query, actor)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    tasks = session.scalars(
        query.order_by(ReviewTask.created_at, ReviewTask.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return {"items": tasks, "page": page, "per_page": per_page, "total": total}


def _tab_condition(tab: str) -> ColumnElement[bool] | None:
    """Which pending tasks a tab shows."""
    state, assignee = ReviewTask.state, ReviewTask.assignee_id
    return {
        "mine": and_(state == "claimed", assignee == _ACTOR),
        "unassigned": state == "open",
        "others": and_(state == "claimed", assignee != _ACTOR),
        "all": None,
    }[tab]


QUEUE_ORDER: dict[str, tuple[ColumnElement[Any], ColumnElement[Any]]] = {
    "oldest": (ReviewTask.created_at.asc(), ReviewTask.id.asc()),
    "newest": (ReviewTask.created_at.desc(), ReviewTask.id.desc()),
    "due": (ReviewTask.due_at.asc().nulls_last(), ReviewTask.created_at.asc()),
}
COUNTED = ("mine", "unassigned", "others", "all", "overdue")
CAPPED = tuple(name for name in COUNTED if name != "all")

# The queue's statements hold every value as a bound parameter, so each shape of view (who
# asks, which filters, tab, sort) is built and compiled once per process; building them was
# most of the queue's own CPU. At most 2 × 2⁵ × 4 × 3 shapes.
_ACTOR: BindParameter[str] = bindparam("actor_id")  # typed by the column it meets
_NOW: BindParameter[datetime] = bindparam("now")
_FILTERS: dict[str, ColumnElement[bool]] = {
    "profile_id": ReviewTask.profile_id == bindparam("profile_id"),
    "collection": ReviewTask.collection == bindparam("collection"),
    "depositor": or_(
        ReviewTask.depositor_id == bindparam("depositor"),
        ReviewTask.depositor_name.ilike(bindparam("depositor_like"), escape="\\"),
    ),
    "older_than_days": ReviewTask.created_at <= bindparam("created_before"),
    "overdue": ReviewTask.due_at < _NOW,
}
_PAGE_ROWS = select(ReviewTask).where(ReviewTask.id.in_(bindparam("page_ids", expanding=True)))


@dataclass(frozen=True)
class _QueueStatements:
    first: Select[tuple[int, str | None]]  # how many of the first limit + 1; their ids if no more
    found_counts: Select[tuple[int, ...]]  # every count among those ids
    capped_counts: Select[tuple[int, ...]]  # each tab counted on its own, up to limit + 1
    page_of_found: Select[tuple[int]]
    page_of_filtered: Select[tuple[int]]


@functools.cache
def _queue_statements(
    supervisor: bool, filters: tuple[str, ...], tab: str, sort: str
) -> _QueueStatements:
    filtered = select(ReviewTask.id).where(ReviewTask.state.in_(PENDING_STATES))
    if not supervisor:  # only tasks of profiles whose approver groups the actor is in
        filtered = filtered.where(_of_group_sets(bindparam("groups", expanding=True)))
    filtered = filtered.where(*(_FILTERS[name] for name in filters))
    scan_limit = bindparam("scan_limit", type_=Integer)
    first = filtered.limit(scan_limit).subquery()
    found = select(ReviewTask.id).where(ReviewTask.id.in_(bindparam("ids", expanding=True)))

    def page_of(query: Select[tuple[int]]) -> Select[tuple[int]]:
        condition = _tab_condition(tab)
        if condition is not None:
            query = query.where(condition)
        return (
            query.order_by(*QUEUE_ORDER[sort])
            .limit(bindparam("page_limit", type_=Integer))
            .offset(bindparam("page_offset", type_=Integer))
        )

    def capped(name: str) -> ScalarSelect[int]:
        within = filtered.where(_counted(name)).limit(scan_limit).subquery()
        return select(func.count()).select_from(within).scalar_subquery()

    return _QueueStatements(
        first=select(
            func.count(),
            case(
                (
                    func.count() <= bindparam("count_limit", type_=Integer),
                    func.aggregate_strings(first.c.id.cast(String), ","),
                ),
            ),
        ),
        found_counts=found.with_only_columns(
            *(func.count().filter(_counted(name)) for name in COUNTED)
        ),
        capped_counts=select(*(capped(name) for name in CAPPED)),
        page_of_found=page_of(found),
        page_of_filtered=page_of(filtered),
    )


def queue(
    session: Session,
    actor: Actor,
    tab: str = "all",
    profile_id: str | None = None,
    collection: str | None = None,
    depositor: str | None = None,
    older_than_days: int | None = None,
    overdue: bool = False,
    sort: str = "oldest",
    page: int = 1,
    per_page: int = 25,
    count_limit: int = QUEUE_COUNT_LIMIT,
) -> dict[str, Any]:
    """The approver's work: pending tasks they may review, one tab at a time, with counts
    for every tab under the same filters. A count is exact up to `count_limit`; past it,
    it is `count_limit` + 1 ("more than"): counting 200,000 pending tasks would read all of
    them. Pages are bounded (the request caps `page`).

    How many tasks the filters find, up to `count_limit` + 1, comes first; their ids come
    back with it, joined in one string, only when that is all of them (a thousand rows
    built in Python cost more than the counts). Then those are counted by tab at once and
    the page is taken from them by primary key, so a costly filter (part of a name) runs
    once; only when there are more is each tab counted on its own, each stopping at
    `count_limit` + 1 too."""
    _require_reviewer(actor)
    now = _now()
    filters = tuple(
        name
        for name, given in (
            ("profile_id", bool(profile_id)),
            ("collection", bool(collection)),
            ("depositor", bool(depositor)),
            ("older_than_days", older_than_days is not None),
            ("overdue", overdue),
        )
        if given
    )
    statements = _queue_statements(can(actor, Action.SUPERVISE_REVIEWS), filters, tab, sort)
    values: dict[str, Any] = {
        "groups": _group_names(actor),
        "actor_id": actor.id,
        "now": now,
        "profile_id": profile_id,
        "collection": collection,
        "depositor": depositor,
        "depositor_like": f"%{_like(depositor)}%" if depositor else None,
        "created_before": (
            now - timedelta(days=older_than_days) if older_than_days is not None else None
        ),
        "scan_limit": count_limit + 1,
        "count_limit": count_limit,
        # one more id than the page holds says whether a next page follows, whatever the
        # capped count says
        "page_limit": per_page + 1,
        "page_offset": (page - 1) * per_page,
    }
    # column-only statements need none of the ORM's work on the way
    connection = session.connection()
    found_count, joined = connection.execute(statements.first, values).one()
    if found_count <= count_limit:
        values["ids"] = [int(task_id) for task_id in joined.split(",")] if joined else []
        found = connection.execute(statements.found_counts, values).one()
        counts = dict(zip(COUNTED, found, strict=True))
        page_ids = statements.page_of_found
    else:
        capped = connection.execute(statements.capped_counts, values).one()
        counts = {**dict(zip(CAPPED, capped, strict=True)), "all": count_limit + 1}
        page_ids = statements.page_of_filtered
    ids = connection.execute(page_ids, values).scalars().all()
    has_more, ids = len(ids) > per_page, ids[:per_page]
    rows = {task.id: task for task in session.scalars(_PAGE_ROWS, {"page_ids": ids})} if ids else {}
    return {
        "items": [rows[task_id] for task_id in ids],
        "page": page,
        "per_page": per_page,
        "total": counts[tab],
        "counts": counts,
        "count_limit": count_limit,
        "has_more": has_more,
    }


def _counted(name: str) -> ColumnElement[bool]:
    """Which pending tasks a count takes: a tab's, or the overdue ones (of every tab)."""
    if name == "overdue":
        return ReviewTask.due_at < _NOW
    condition = _tab_condition(name)
    return true() if condition is None else condition


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_reasons(session: Session) -> Sequence[Reason]:
    return session.scalars(select(Reason).order_by(Reason.kind, Reason.code)).all()


def save_reason(
    uow: UnitOfWork, actor: Actor, kind: str, code: str, label: str, is_default: bool
) -> Reason:
    """Add or relabel a reason; a new default replaces the kind's old one."""
    if not can(actor, Action.MANAGE_REASONS):
        raise Forbidden("Managing reasons needs the manager role.")
    session = uow.session
    reason = session.scalar(select(Reason).where(Reason.kind == kind, Reason.code == code))
    if reason is None:
        reason = Reason(kind=kind, code=code, label=label, is_default=False)
        session.add(reason)
    if is_default:
        session.execute(
            update(Reason).where(Reason.kind == kind, Reason.code != code).values(is_default=False)
        )
    elif reason.is_default:
        raise InvalidInput(
            "Every kind of reason keeps a default; make another one the default instead.",
            fields={"is_default": ["is the default"]},
        )
    reason.label, reason.is_default = label, is_default
    session.flush()
    return reason


def delete_reason(uow: UnitOfWork, actor: Actor, kind: str, code: str) -> None:
    """Remove a reason; past decisions keep its code. The default stays until replaced."""
    if not can(actor, Action.MANAGE_REASONS):
        raise Forbidden("Managing reasons needs the manager role.")
    reason = uow.session.scalar(select(Reason).where(Reason.kind == kind, Reason.code == code))
    if reason is None:
        raise NotFound("There is no such reason.")
    if reason.is_default:
        raise Conflict(
            "This is the default reason; make another one the default first.",
            fields={"code": ["is the default"]},
        )
    uow.session.delete(reason)


# --- the review page ----------------------------------------------------------------------


def review_task(session: Session, actor: Actor, deposit_id: str) -> ReviewTask:
    """The deposit's latest task, for anyone who may review it."""
    _require_reviewer(actor)
    task = _task(session, deposit_id)
    if task is None or (task.state == "cancelled" and not task.deposit):
        raise NotFound("That deposit has not reached review.")
    if not may_review(actor, task):
        raise Forbidden("You are not an approver for this deposit's profile.")
    return task


def notes(session: Session, deposit_id: str) -> Sequence[StaffNote]:
    return session.scalars(
        select(StaffNote)
        .where(StaffNote.deposit_id == deposit_id)
        .order_by(StaffNote.at, StaffNote.id)
    ).all()


def add_note(uow: UnitOfWork, actor: Actor, deposit_id: str, text: str) -> StaffNote:
    task = review_task(uow.session, actor, deposit_id)
    require(actor, Action.DECIDE, **_owners(task))
    _touch_claim(task, actor)
    note = StaffNote(
        deposit_id=deposit_id,
        revision=task.revision,
        author=actor.person_ref(),
        text=text,
        at=_now(),
    )
    uow.session.add(note)
    uow.session.flush()
    return note


def _touch_claim(task: ReviewTask, actor: Actor) -> None:
    """Work on a claimed task keeps the claim from counting as idle."""
    if task.state == "claimed" and task.assignee_id == actor.id:
        task.claimed_at = _now()


def review_file(session: Session, actor: Actor, deposit_id: str, file_id: str) -> dict[str, Any]:
    """A file of the revision under review, with its storage key, for the preview."""
    task = review_task(session, actor, deposit_id)
    found: dict[str, Any] | None = next(
        (f for f in task.deposit.get("files", []) if f["id"] == file_id), None
    )
    if found is None:
        raise NotFound("The deposit has no such file.")
    return found


def start_metadata_edit(uow: UnitOfWork, actor: Actor, deposit_id: str) -> ReviewTask:
    """An approver may edit metadata of an undecided task nobody else has claimed;
    editing claims it."""
    return claim(uow, actor, deposit_id)


def keep_edited_metadata(task: ReviewTask, deposit: dict[str, Any]) -> None:
    """What intake accepted becomes what approval hands on when it approves."""
    task.deposit = {**task.deposit, "metadata": deposit["metadata"], "title": deposit["title"]}
    task.title, task.updated_at = deposit["title"], _now()


def changes_since_return(session: Session, task: ReviewTask) -> dict[str, Any] | None:
    """For a resubmission: what changed since the approver returned the last revision."""
    earlier = session.scalar(
        select(ReviewTask)
        .where(
            ReviewTask.deposit_id == task.deposit_id,
            ReviewTask.revision < task.revision,
            ReviewTask.state == "decided",
        )
        .order_by(ReviewTask.revision.desc())
        .limit(1)
    )
    if earlier is None or not earlier.deposit:
        return None
    decision = decision_of(session, earlier)
    if decision is None or decision.decision != "return":
        return None
    before, after = earlier.deposit.get("metadata", {}), task.deposit.get("metadata", {})
    metadata = [
        {"field": key, "before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    old = {f["filename"]: f["sha256"] for f in earlier.deposit.get("files", [])}
    new = {f["filename"]: f["sha256"] for f in task.deposit.get("files", [])}
    return {
        "from_revision": earlier.revision,
        "to_revision": task.revision,
        "metadata": metadata,
        "files_added": sorted(set(new) - set(old)),
        "files_removed": sorted(set(old) - set(new)),
        "files_changed": sorted(name for name in set(old) & set(new) if old[name] != new[name]),
    }
