"""The deposit state machine: every transition, valid or not, and the implied-step planner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from kernel.contracts.exceptions import InvalidTransition
from services.intake.lifecycle import (
    ACTIONS,
    EDITABLE,
    FINAL,
    Approve,
    Archive,
    Decline,
    Expire,
    FailChecks,
    Return,
    StartReview,
    Status,
    Step,
    Submit,
    Withdraw,
    plan,
)

S = Status

# The lifecycle as the product specifies it, written out independently of the code, so a
# change to any action's status_from / status_to makes these tests fail.
EXPECTED = {
    Submit: ({S.DRAFT, S.RETURNED}, S.SUBMITTED),
    StartReview: ({S.SUBMITTED}, S.IN_REVIEW),
    FailChecks: ({S.SUBMITTED}, S.RETURNED),
    Approve: ({S.IN_REVIEW}, S.APPROVED),
    Decline: ({S.IN_REVIEW}, S.DECLINED),
    Return: ({S.IN_REVIEW}, S.RETURNED),
    Archive: ({S.APPROVED}, S.ARCHIVED),
    Withdraw: ({S.DRAFT, S.SUBMITTED, S.IN_REVIEW, S.RETURNED}, S.WITHDRAWN),
    Expire: ({S.DRAFT, S.RETURNED}, S.WITHDRAWN),
}
EXPECTED_NAMES = {
    Submit: "submit",
    StartReview: "start_review",
    FailChecks: "fail_checks",
    Approve: "approve",
    Decline: "decline",
    Return: "return",
    Archive: "archive",
    Withdraw: "withdraw",
    Expire: "expire",
}

VALID = [
    (action, status) for action in ACTIONS for status in Status if status in EXPECTED[action][0]
]
INVALID = [
    (action, status) for action in ACTIONS for status in Status if status not in EXPECTED[action][0]
]


def _id(value):
    return value.__name__ if isinstance(value, type) else str(value)


@dataclass
class FakeDeposit:
    status: str
    revision: int = 3


ACTOR = {"id": "u-1", "name": "Ada Approver", "email": "ada@example.org", "locale": "en"}
AT = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)


def test_actions_cover_the_whole_specified_lifecycle():
    assert set(ACTIONS) == set(EXPECTED)
    assert len(VALID) + len(INVALID) == len(Status) * len(ACTIONS)


@pytest.mark.parametrize("action", ACTIONS, ids=_id)
def test_action_names_are_the_ones_history_records(action):
    assert action.name == EXPECTED_NAMES[action]


@pytest.mark.parametrize(("action", "status"), VALID, ids=_id)
def test_valid_transition_moves_deposit_and_returns_step(action, status):
    deposit = FakeDeposit(status=status.value, revision=3)

    step = action.apply(deposit, ACTOR, reason_code="some_reason", note="a note", at=AT)

    expected_to = EXPECTED[action][1]
    expected_revision = 4 if (action is Submit and status is S.RETURNED) else 3
    assert deposit.status == expected_to
    assert deposit.revision == expected_revision
    assert isinstance(step, Step)
    assert step == Step(
        action=EXPECTED_NAMES[action],
        revision=expected_revision,
        from_status=status,
        to_status=expected_to,
        actor=ACTOR,
        reason_code="some_reason",
        note="a note",
        at=AT,
    )
    assert step.from_status is status
    assert step.to_status is expected_to


@pytest.mark.parametrize(("action", "status"), VALID, ids=_id)
def test_allowed_from_accepts_plain_strings_for_valid_states(action, status):
    assert action.allowed_from(status.value) is True


@pytest.mark.parametrize(("action", "status"), INVALID, ids=_id)
def test_invalid_transition_raises_and_leaves_deposit_untouched(action, status):
    deposit = FakeDeposit(status=status.value, revision=3)

    with pytest.raises(InvalidTransition) as caught:
        action.apply(deposit, ACTOR, at=AT)

    assert deposit.status == status.value
    assert deposit.revision == 3
    error = caught.value
    assert error.code == "invalid_transition"
    assert error.fields == {"status": [f"is {status.value}"]}
    # the message tells the user what the deposit is and where the action is allowed from
    assert f"that is {status.value}" in error.message
    for allowed in EXPECTED[action][0]:
        assert allowed.value in error.message


@pytest.mark.parametrize(("action", "status"), INVALID, ids=_id)
def test_allowed_from_rejects_invalid_states(action, status):
    assert action.allowed_from(status.value) is False


def test_submit_from_returned_starts_a_new_revision():
    deposit = FakeDeposit(status="returned", revision=1)
    step = Submit.apply(deposit, ACTOR, at=AT)
    assert deposit.revision == 2
    assert step.revision == 2
    assert deposit.status == "submitted"


def test_first_submit_from_draft_keeps_revision():
    deposit = FakeDeposit(status="draft", revision=1)
    step = Submit.apply(deposit, ACTOR, at=AT)
    assert deposit.revision == 1
    assert step.revision == 1


def test_each_resubmission_raises_revision_once():
    deposit = FakeDeposit(status="draft", revision=1)
    Submit.apply(deposit, ACTOR)
    FailChecks.apply(deposit, ACTOR)  # revision 1 returned by the checks
    Submit.apply(deposit, ACTOR)  # revision 2
    StartReview.apply(deposit, ACTOR)
    Return.apply(deposit, ACTOR)  # returned by an approver
    step = Submit.apply(deposit, ACTOR)  # revision 3
    assert (deposit.status, deposit.revision, step.revision) == ("submitted", 3, 3)


def test_step_defaults_to_now_in_utc_and_no_reason_or_note():
    deposit = FakeDeposit(status="draft")
    before = datetime.now(UTC)
    step = Withdraw.apply(deposit, ACTOR)
    after = datetime.now(UTC)
    assert step.at.tzinfo is not None
    assert step.at.utcoffset() == timedelta(0)
    assert before <= step.at <= after
    assert step.reason_code is None
    assert step.note is None


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        # directly allowed
        ("draft", Submit, [Submit]),
        ("submitted", StartReview, [StartReview]),
        ("in_review", Approve, [Approve]),
        ("approved", Archive, [Archive]),
        # an outcome that overtook the step it implies
        ("submitted", Approve, [StartReview, Approve]),
        ("submitted", Decline, [StartReview, Decline]),
        ("submitted", Return, [StartReview, Return]),
        ("submitted", Archive, [StartReview, Approve, Archive]),
        ("in_review", Archive, [Approve, Archive]),
        # late or repeated outcomes: nothing to do
        ("archived", Archive, []),
        ("approved", Approve, []),
        ("withdrawn", Approve, []),
        ("withdrawn", Archive, []),
        ("declined", Approve, []),
        ("returned", StartReview, []),
        ("returned", Approve, []),
        ("in_review", StartReview, []),
        ("draft", Approve, []),
        ("archived", Withdraw, []),
    ],
)
def test_plan_lists_implied_steps_first(status, action, expected):
    assert plan(status, action) == expected


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("submitted", Archive),
        ("in_review", Archive),
        ("submitted", Decline),
    ],
)
def test_applying_a_plan_reaches_the_outcome(status, action):
    deposit = FakeDeposit(status=status)
    steps = [step.apply(deposit, ACTOR) for step in plan(status, action)]
    assert deposit.status == EXPECTED[action][1]
    assert [s.to_status for s in steps][-1] == EXPECTED[action][1]
    # the steps chain: each starts where the previous one ended
    assert steps[0].from_status == status
    for earlier, later in pairwise(steps):
        assert earlier.to_status == later.from_status


@pytest.mark.parametrize("status", sorted(Status.__members__.values()))
def test_final_states_allow_no_action(status):
    final = status in {S.ARCHIVED, S.DECLINED, S.WITHDRAWN}
    possible = [a for a in ACTIONS if a.allowed_from(status)]
    assert (possible == []) == final


def test_final_and_editable_sets():
    assert {S.ARCHIVED, S.DECLINED, S.WITHDRAWN} == FINAL
    assert {S.DRAFT, S.RETURNED} == EDITABLE
    # a deposit can be edited exactly where it can be (re)submitted
    assert Submit.status_from == EDITABLE
