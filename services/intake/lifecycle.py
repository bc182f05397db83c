"""The deposit lifecycle: states, and actions that move a deposit between them.

Plain Python, no framework: every action names the states it starts from
(`status_from`) and the state it leads to (`status_to`). Applying an action checks
the transition, moves the deposit and returns the history step to record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from kernel.contracts.deposits import Status
from kernel.contracts.exceptions import InvalidTransition

FINAL = frozenset({Status.ARCHIVED, Status.DECLINED, Status.WITHDRAWN})
EDITABLE = frozenset({Status.DRAFT, Status.RETURNED})


class Lifecycle(Protocol):
    status: str
    revision: int


@dataclass(frozen=True)
class Step:
    """One row of history."""

    action: str
    revision: int
    from_status: Status | None  # None for the step that creates the deposit
    to_status: Status
    actor: dict[str, Any]
    reason_code: str | None
    note: str | None
    at: datetime
    reason_label: str | None = None  # the reason as the depositor reads it


class Action:
    name: ClassVar[str]
    status_from: ClassVar[frozenset[Status]]
    status_to: ClassVar[Status]
    # an action that raises the revision starts a new round of checks and review
    raises_revision: ClassVar[bool] = False

    @classmethod
    def allowed_from(cls, status: str) -> bool:
        return Status(status) in cls.status_from

    @classmethod
    def apply(
        cls,
        deposit: Lifecycle,
        actor: dict[str, Any],
        reason_code: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Step:
        current = Status(deposit.status)
        if current not in cls.status_from:
            allowed = ", ".join(sorted(cls.status_from))
            raise InvalidTransition(
                f"Cannot {cls.name.replace('_', ' ')} a deposit that is {current}; "
                f"only from: {allowed}.",
                fields={"status": [f"is {current}"]},
            )
        if cls.raises_revision and current is Status.RETURNED:
            deposit.revision += 1
        deposit.status = cls.status_to
        return Step(
            cls.name,
            deposit.revision,
            current,
            cls.status_to,
            actor,
            reason_code,
            note,
            at or datetime.now(UTC),
        )


class Submit(Action):
    name = "submit"
    status_from = frozenset({Status.DRAFT, Status.RETURNED})
    status_to = Status.SUBMITTED
    raises_revision = True


class StartReview(Action):
    """The automatic checks passed."""

    name = "start_review"
    status_from = frozenset({Status.SUBMITTED})
    status_to = Status.IN_REVIEW


class FailChecks(Action):
    name = "fail_checks"
    status_from = frozenset({Status.SUBMITTED})
    status_to = Status.RETURNED


class Approve(Action):
    name = "approve"
    status_from = frozenset({Status.IN_REVIEW})
    status_to = Status.APPROVED


class Decline(Action):
    name = "decline"
    status_from = frozenset({Status.IN_REVIEW})
    status_to = Status.DECLINED


class Return(Action):
    name = "return"
    status_from = frozenset({Status.IN_REVIEW})
    status_to = Status.RETURNED


class Archive(Action):
    name = "archive"
    status_from = frozenset({Status.APPROVED})
    status_to = Status.ARCHIVED


class Withdraw(Action):
    name = "withdraw"
    status_from = frozenset({Status.DRAFT, Status.SUBMITTED, Status.IN_REVIEW, Status.RETURNED})
    status_to = Status.WITHDRAWN


class Expire(Action):
    """Lodge removes a draft nobody touched for the configured time (after warning)."""

    name = "expire"
    status_from = EDITABLE
    status_to = Status.WITHDRAWN


ACTIONS: tuple[type[Action], ...] = (
    Submit,
    StartReview,
    FailChecks,
    Approve,
    Decline,
    Return,
    Archive,
    Withdraw,
    Expire,
)

# Outcomes arrive from different services over different queues, so a later one can
# overtake an earlier one. The step an outcome implies is then recorded first.
IMPLIED_BEFORE: dict[type[Action], type[Action]] = {
    Approve: StartReview,
    Decline: StartReview,
    Return: StartReview,
    Archive: Approve,
}


def plan(status: str, action: type[Action]) -> list[type[Action]]:
    """The actions that take a deposit in `status` through `action`, implied ones first.

    Empty when the deposit has already passed that point (a late or repeated outcome).
    """
    if action.allowed_from(status):
        return [action]
    before = IMPLIED_BEFORE.get(action)
    if before is None:
        return []
    earlier = plan(status, before)
    return earlier + [action] if earlier else []
