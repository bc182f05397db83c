"""Approval's workers on a real database: the queue, decisions, conflicts, automatic approval."""

import datetime
from datetime import UTC

import pytest
from nameko.testing.services import worker_factory

from kernel.contracts.actors import Actor
from kernel.contracts.approval import QUEUE_COUNT_LIMIT
from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput
from kernel.platform.config import get_settings
from services.approval import review
from services.approval.review import seed_reasons
from services.approval.service import ApprovalService
from tests.services.conftest import (
    APPROVER,
    MANAGER,
    OTHER_APPROVER,
    STUDENT,
    loaded_event,
    outbox,
)


@pytest.fixture
def approval(database_for):
    database = database_for("approval")
    with database.unit_of_work() as uow:
        seed_reasons(uow.session)
    service = worker_factory(ApprovalService, store=database)
    service.database = database
    return service


def snapshot(
    deposit_id="d1",
    revision=1,
    mode="manual",
    mediated_by=None,
    groups=("approvers",),
    depositor=STUDENT,
):
    return {
        "id": deposit_id,
        "revision": revision,
        "title": "On Moss",
        "profile": {
            "id": "thesis",
            "version": 1,
            "name": "Thesis",
            "fields": [],
            "file_rules": {},
            "approval": {"mode": mode, "approver_groups": list(groups)},
            "target_collection": "theses",
            "access": "open",
        },
        "depositor": {
            "id": depositor["id"],
            "name": depositor["name"],
            "email": depositor["email"],
        },
        "mediated_by": mediated_by,
        "metadata": {"title": "On Moss"},
        "files": [],
    }


def validated(passed=True, **kwargs):
    return validated_event(snapshot(**kwargs), passed)


def validated_event(deposit, passed=True):
    report = {
        "revision": deposit["revision"],
        "passed": passed,
        "checks": [],
        "files": [],
        "checked_at": "2026-11-29T10:00:00+00:00",
    }
    return loaded_event(
        "validation",
        "deposit_validated",
        deposit_id=deposit["id"],
        revision=deposit["revision"],
        passed=passed,
        report=report,
        deposit=deposit,
    )


def test_manual_profile_queues_the_deposit_for_its_approvers(approval):
    approval.on_deposit_validated(validated())
    queue = approval.list_reviews(actor=APPROVER)
    assert [t["deposit_id"] for t in queue["items"]] == ["d1"] and queue["total"] == 1
    outsider = {**APPROVER, "id": "u-x", "groups": ["elsewhere"]}
    assert approval.list_reviews(actor=outsider)["total"] == 0
    with pytest.raises(Forbidden):
        approval.approve(actor=outsider, deposit_id="d1")
    assert outbox(approval.database) == []


def test_failed_checks_open_no_review(approval):
    approval.on_deposit_validated(validated(passed=False))
    assert approval.list_reviews(actor=APPROVER, state="all")["total"] == 0


def test_automatic_profile_is_decided_by_the_system(approval):
    approval.on_deposit_validated(validated(mode="automatic"))
    [event] = outbox(approval.database, "deposit_approved")
    assert event["decision"]["actor"]["id"] == "system"
    assert event["decision"]["reason_code"] == "automatic"
    assert event["deposit"]["profile"]["target_collection"] == "theses"


def test_staff_mediated_deposit_skips_approval(approval):
    approval.on_deposit_validated(validated(mediated_by={"id": "u-staff", "name": "Robin Staff"}))
    [event] = outbox(approval.database, "deposit_approved")
    assert event["decision"]["reason_code"] == "staff_mediated"
    assert event["decision"]["note"] == "Staff-mediated by Robin Staff"


def test_a_deposit_a_campus_system_mediated_skips_approval_naming_the_system(approval):
    deposit = snapshot(mediated_by={"id": "u-system-thesis-flow", "name": "Thesis workflow"})
    deposit["origin"] = {
        "system": "thesis-flow",
        "source": "urn:thesis-flow",
        "event_id": "evt-1",
        "mode": "mediated",
    }
    approval.on_deposit_validated(validated_event(deposit))
    [event] = outbox(approval.database, "deposit_approved")
    assert event["decision"]["reason_code"] == "system_mediated"
    assert event["decision"]["note"] == "Deposited by the campus system Thesis workflow"


def test_a_redelivered_validation_opens_one_task(approval):
    event = validated(mode="automatic")
    approval.on_deposit_validated(event)
    approval.on_deposit_validated(event)
    assert len(outbox(approval.database, "deposit_approved")) == 1


def test_decide_takes_the_claim_and_the_second_decision_conflicts(approval):
    approval.on_deposit_validated(validated())
    task = approval.decline(
        actor=APPROVER, deposit_id="d1", reason_code="duplicate", note="Seen it"
    )
    assert task["state"] == "decided" and task["decision"]["reason_code"] == "duplicate"
    with pytest.raises(Conflict):
        approval.approve(actor=OTHER_APPROVER, deposit_id="d1")
    [event] = outbox(approval.database, "deposit_declined")
    assert event["decision"]["note"] == "Seen it"
    assert outbox(approval.database, "deposit_approved") == []


def test_a_claim_keeps_others_from_deciding_until_released(approval):
    approval.on_deposit_validated(validated())
    assert approval.claim(actor=APPROVER, deposit_id="d1")["assignee"]["id"] == APPROVER["id"]
    with pytest.raises(Conflict):
        approval.claim(actor=OTHER_APPROVER, deposit_id="d1")
    with pytest.raises(Conflict):
        approval.return_for_changes(actor=OTHER_APPROVER, deposit_id="d1")
    assert approval.list_reviews(actor=APPROVER, state="claimed", assignee="me")["total"] == 1
    approval.release(actor=APPROVER, deposit_id="d1")
    task = approval.return_for_changes(actor=OTHER_APPROVER, deposit_id="d1", note="Add a date")
    assert task["decision"]["reason_code"] == "metadata_incomplete"  # the default return reason
    # the event tells the depositor's side the label too, as the reason table had it then
    [event] = outbox(approval.database, "deposit_returned")
    assert event["decision"]["reason_label"] == "The description needs more detail"


def test_a_person_who_left_has_every_claim_released_by_a_supervisor_only(approval):
    approval.on_deposit_validated(validated())
    approval.on_deposit_validated(validated(deposit_id="d2"))
    approval.on_deposit_validated(validated(deposit_id="d3"))
    approval.claim(actor=APPROVER, deposit_id="d1")
    approval.claim(actor=APPROVER, deposit_id="d2")
    approval.claim(actor=OTHER_APPROVER, deposit_id="d3")
    # releasing someone else's claims is supervising reviews
    with pytest.raises(Forbidden):
        approval.release_claims_of(actor=OTHER_APPROVER, person_id=APPROVER["id"])
    assert approval.release_claims_of(actor=MANAGER, person_id=APPROVER["id"]) == {"released": 2}
    assert approval.release_claims_of(actor=MANAGER, person_id=APPROVER["id"]) == {"released": 0}
    assert approval.list_reviews(actor=APPROVER, state="claimed", assignee="me")["total"] == 0
    assert {t["deposit_id"] for t in approval.list_reviews(actor=MANAGER)["items"]} == {"d1", "d2"}
    # another approver's claim stays theirs
    assert approval.list_reviews(actor=OTHER_APPROVER, state="claimed", assignee="me")["total"] == 1


def test_unknown_reason_is_refused(approval):
    approval.on_deposit_validated(validated())
    with pytest.raises(InvalidInput) as error:
        approval.decline(actor=APPROVER, deposit_id="d1", reason_code="bored")
    assert "reason_code" in error.value.fields
    assert approval.list_reviews(actor=APPROVER)["items"][0]["state"] == "open"


def test_patrons_cannot_review(approval):
    approval.on_deposit_validated(validated())
    with pytest.raises(Forbidden):
        approval.list_reviews(actor=STUDENT)
    with pytest.raises(Forbidden):
        approval.approve(actor=STUDENT, deposit_id="d1")


def test_withdrawal_cancels_review_and_is_refused_once_decided(approval):
    approval.on_deposit_validated(validated())
    approval.cancel_review(deposit_id="d1", revision=1)
    with pytest.raises(Conflict):
        approval.approve(actor=MANAGER, deposit_id="d1")
    approval.on_deposit_validated(validated(deposit_id="d2", mode="automatic"))
    with pytest.raises(Conflict):
        approval.cancel_review(deposit_id="d2", revision=1)


def test_withdrawal_before_the_checks_finish_keeps_the_review_from_opening(approval):
    approval.cancel_review(deposit_id="d1", revision=1)
    approval.on_deposit_validated(validated(mode="automatic"))
    assert outbox(approval.database, "deposit_approved") == []


def test_an_embargoed_deposit_is_queued_and_approved_with_its_date(approval):
    event = validated(mode="automatic")
    event["deposit"]["access"] = {"policy": "embargo", "embargo_until": datetime.date(2027, 1, 31)}
    approval.on_deposit_validated(event)
    [approved] = outbox(approval.database, "deposit_approved")
    assert approved["deposit"]["access"] == {"policy": "embargo", "embargo_until": "2027-01-31"}


# --- the queue, assignment, notes, reasons, idle claims, resubmission diffs --------------


def queued_three_and_one_elsewhere(approval):
    """q0 claimed by APPROVER, q1 by OTHER_APPROVER, q2 open; one task of another group."""
    for number in range(3):
        approval.on_deposit_validated(validated(deposit_id=f"q{number}"))
    approval.on_deposit_validated(validated(deposit_id="elsewhere", groups=("chemistry",)))
    approval.claim(actor=APPROVER, deposit_id="q0")
    approval.claim(actor=OTHER_APPROVER, deposit_id="q1")


def test_queue_tabs_count_and_filter_in_sql(approval):
    queued_three_and_one_elsewhere(approval)
    queue = approval.queue(actor=APPROVER, tab="unassigned")
    assert [t["deposit_id"] for t in queue["items"]] == ["q2"]
    assert queue["counts"] == {"mine": 1, "unassigned": 1, "others": 1, "all": 3, "overdue": 0}
    assert [t["deposit_id"] for t in approval.queue(actor=APPROVER, tab="mine")["items"]] == ["q0"]
    assert [t["deposit_id"] for t in approval.queue(actor=APPROVER, tab="others")["items"]] == [
        "q1"
    ]
    assert approval.queue(actor=MANAGER)["counts"]["all"] == 4  # managers see every group
    assert approval.queue(actor=APPROVER, depositor="sam stud")["total"] == 3
    assert approval.queue(actor=APPROVER, depositor="nobody")["total"] == 0
    assert approval.queue(actor=APPROVER, profile_id="other")["total"] == 0
    assert approval.queue(actor=APPROVER, collection="theses")["total"] == 3
    assert approval.queue(actor=APPROVER, older_than_days=1)["total"] == 0
    newest = approval.queue(actor=APPROVER, sort="newest")["items"]
    assert [t["deposit_id"] for t in newest] == ["q2", "q1", "q0"]
    with pytest.raises(Forbidden):
        approval.queue(actor=STUDENT)


def test_queue_statements_are_built_once_a_shape_and_take_each_callers_values(approval):
    queued_three_and_one_elsewhere(approval)
    chemist = {**APPROVER, "id": "u-chemist", "groups": ["chemistry"]}

    def mine(actor, **filters):
        items = approval.queue(actor=actor, tab="mine", **filters)["items"]
        return [t["deposit_id"] for t in items]

    assert mine(APPROVER) == ["q0"]
    # the statement the approver's view built, with another approver's groups
    assert approval.queue(actor=chemist, tab="mine")["counts"]["all"] == 1  # their group's
    before = review._queue_statements.cache_info()
    # the same shapes of view for other people and other values: nothing of an earlier
    # caller's carried over, and at most the filter's shape built
    assert mine(OTHER_APPROVER) == ["q1"]
    assert mine(APPROVER, depositor="sam stud") == ["q0"]
    assert mine(APPROVER, depositor="nobody") == []
    assert mine(OTHER_APPROVER, depositor="sam stud") == ["q1"]
    after = review._queue_statements.cache_info()
    assert after.hits - before.hits >= 3 and after.misses - before.misses <= 1


def test_queue_counts_stop_past_their_limit_and_pages_say_whether_more_follow(approval):
    for number in range(5):
        approval.on_deposit_validated(validated(deposit_id=f"q{number}"))
    approval.claim(actor=APPROVER, deposit_id="q0")
    approval.claim(actor=APPROVER, deposit_id="q1")
    approval.claim(actor=OTHER_APPROVER, deposit_id="q2")
    approver = Actor.from_wire(APPROVER)

    def queue(limit=2, **filters):
        with approval.database.reading() as session:
            page = review.queue(session, approver, count_limit=limit, per_page=2, **filters)
            return {**page, "items": [task.deposit_id for task in page["items"]]}

    first = queue()
    # exact up to the limit (mine 2, unassigned 2, others 1); past it, limit + 1
    assert first["counts"] == {"mine": 2, "unassigned": 2, "others": 1, "all": 3, "overdue": 0}
    assert first["total"] == 3 and first["count_limit"] == 2
    # the same pages whether the filtered tasks are past the limit (2) or all within it (10)
    for limit in (2, 10):
        pages = [queue(limit, page=number) for number in (1, 2, 3, 4)]
        assert [(p["items"], p["has_more"]) for p in pages] == [
            (["q0", "q1"], True),
            (["q2", "q3"], True),
            (["q4"], False),
            ([], False),
        ]
        newest = [queue(limit, sort="newest", page=number)["items"] for number in (1, 2, 3)]
        assert newest == [["q4", "q3"], ["q2", "q1"], ["q0"]]
        assert queue(limit, tab="unassigned")["items"] == ["q3", "q4"]
    assert queue(10)["counts"] == {"mine": 2, "unassigned": 2, "others": 1, "all": 5, "overdue": 0}
    mine = queue(tab="mine")
    assert mine["items"] == ["q0", "q1"] and mine["total"] == 2 and not mine["has_more"]
    # the filters bound the counts as before
    assert queue(depositor="nobody")["counts"] == dict.fromkeys(first["counts"], 0)
    assert approval.queue(actor=APPROVER)["count_limit"] == QUEUE_COUNT_LIMIT


def test_turnaround_sets_a_due_date_and_overdue_filters(approval):
    event = validated(deposit_id="late")
    event["deposit"]["profile"]["approval"]["turnaround_days"] = 3
    approval.on_deposit_validated(event)
    approval.on_deposit_validated(validated(deposit_id="no-target"))
    [task] = [t for t in approval.queue(actor=APPROVER)["items"] if t["deposit_id"] == "late"]
    assert task["due_at"] is not None and task["overdue"] is False
    with approval.database.unit_of_work() as uow:
        from datetime import datetime, timedelta

        from services.approval.models import ReviewTask

        row = uow.session.query(ReviewTask).filter_by(deposit_id="late").one()
        row.due_at = datetime.now(UTC) - timedelta(hours=1)
    queue = approval.queue(actor=APPROVER, overdue=True)
    assert [t["deposit_id"] for t in queue["items"]] == ["late"] and queue["items"][0]["overdue"]
    assert queue["counts"]["overdue"] == 1
    assert approval.queue(actor=APPROVER, sort="due")["items"][0]["deposit_id"] == "late"


def test_assign_to_a_colleague_of_the_profile_only(approval):
    approval.on_deposit_validated(validated())
    task = approval.assign(actor=APPROVER, deposit_id="d1", assignee=OTHER_APPROVER)
    assert task["assignee"]["id"] == OTHER_APPROVER["id"] and task["state"] == "claimed"
    with pytest.raises(Conflict):  # it is someone else's now
        approval.assign(actor=APPROVER, deposit_id="d1", assignee=APPROVER)
    with pytest.raises(InvalidInput) as error:
        approval.assign(
            actor=OTHER_APPROVER,
            deposit_id="d1",
            assignee={**APPROVER, "id": "u-chem", "groups": ["chemistry"]},
        )
    assert "assignee" in error.value.fields
    assert (
        approval.assign(actor=MANAGER, deposit_id="d1", assignee=APPROVER)["assignee"]["id"]
        == APPROVER["id"]
    )


def test_the_same_decision_sent_twice_is_one_decision(approval):
    approval.on_deposit_validated(validated())
    first = approval.approve(actor=APPROVER, deposit_id="d1", note="Fine")
    again = approval.approve(actor=APPROVER, deposit_id="d1", note="Fine")
    assert again["decision"]["at"] == first["decision"]["at"]
    assert len(outbox(approval.database, "deposit_approved")) == 1
    with pytest.raises(Conflict):
        approval.decline(actor=APPROVER, deposit_id="d1")


def test_bulk_decisions_report_each_deposit(approval):
    for deposit_id in ("b1", "b2", "b3"):
        approval.on_deposit_validated(validated(deposit_id=deposit_id))
    approval.claim(actor=OTHER_APPROVER, deposit_id="b2")
    results = approval.decide_many(
        actor=APPROVER,
        deposit_ids=["b1", "b2", "b3", "nope"],
        decision="return",
        reason_code="wrong_file",
        note="PDF/A please",
    )
    assert [(r["deposit_id"], r["code"]) for r in results] == [
        ("b1", "ok"),
        ("b2", "conflict"),
        ("b3", "ok"),
        ("nope", "not_found"),
    ]
    assert results[0]["task"]["decision"]["reason_code"] == "wrong_file"
    assert {e["deposit_id"] for e in outbox(approval.database, "deposit_returned")} == {"b1", "b3"}


def test_staff_notes_are_kept_per_deposit(approval):
    approval.on_deposit_validated(validated())
    approval.add_note(actor=APPROVER, deposit_id="d1", text="Supervisor confirmed by phone")
    review = approval.get_review(actor=OTHER_APPROVER, deposit_id="d1")
    assert [n["text"] for n in review["notes"]] == ["Supervisor confirmed by phone"]
    assert review["notes"][0]["author"]["id"] == APPROVER["id"] and review["may_decide"]
    with pytest.raises(Forbidden):
        approval.add_note(actor=STUDENT, deposit_id="d1", text="let me in")


def test_managers_edit_the_reason_tables(approval):
    approval.save_reason(
        actor=MANAGER,
        kind="return",
        code="needs_abstract",
        label="Please add an abstract",
        is_default=True,
    )
    reasons = {(r["kind"], r["code"]): r for r in approval.list_reasons(actor=APPROVER)}
    assert reasons[("return", "needs_abstract")]["is_default"]
    assert not reasons[("return", "metadata_incomplete")]["is_default"]
    with pytest.raises(Conflict):
        approval.delete_reason(actor=MANAGER, kind="return", code="needs_abstract")
    with pytest.raises(InvalidInput):
        approval.save_reason(
            actor=MANAGER, kind="return", code="needs_abstract", label="Abstract", is_default=False
        )
    approval.delete_reason(actor=MANAGER, kind="return", code="wrong_file")
    # the queue carries the reasons its decisions may give: the same table, as it is now
    assert approval.queue(actor=APPROVER)["reasons"] == approval.list_reasons(actor=APPROVER)
    with pytest.raises(Forbidden):
        approval.save_reason(actor=APPROVER, kind="decline", code="x", label="X")
    approval.on_deposit_validated(validated())
    task = approval.return_for_changes(actor=APPROVER, deposit_id="d1")
    assert task["decision"]["reason_code"] == "needs_abstract"


def test_idle_claims_go_back_to_the_pool(approval, lodge_env):
    approval.on_deposit_validated(validated())
    approval.claim(actor=APPROVER, deposit_id="d1")
    approval.release_idle_claims()
    assert approval.queue(actor=APPROVER)["counts"]["mine"] == 1
    lodge_env.setenv("LODGE_CLAIM_IDLE_MINUTES", "0")
    get_settings.cache_clear()
    approval.release_idle_claims()
    assert approval.queue(actor=APPROVER)["counts"] == {
        "mine": 0,
        "unassigned": 1,
        "others": 0,
        "all": 1,
        "overdue": 0,
    }


def test_a_resubmission_shows_what_changed_since_the_return(approval):
    approval.on_deposit_validated(validated())
    approval.return_for_changes(actor=APPROVER, deposit_id="d1")
    event = validated(revision=2)
    event["deposit"]["metadata"] = {"title": "On Moss, revised", "date": "2026-06-01"}
    event["deposit"]["files"] = [
        {
            "id": "f2",
            "filename": "moss.pdf",
            "size": 3,
            "sha256": "b" * 64,
            "md5": "c" * 32,
            "media_type": "application/pdf",
            "storage_key": "staging/d1/f2",
        }
    ]
    approval.on_deposit_validated(event)
    changes = approval.get_review(actor=APPROVER, deposit_id="d1")["changes"]
    assert (changes["from_revision"], changes["to_revision"]) == (1, 2)
    assert {c["field"] for c in changes["metadata"]} == {"title", "date"}
    assert changes["files_added"] == ["moss.pdf"] and changes["files_removed"] == []


# --- separation of duties: nobody decides on their own deposit ---------------------------


def test_an_approver_never_works_on_their_own_deposit(approval):
    approval.on_deposit_validated(validated(depositor=APPROVER))
    for action in (approval.approve, approval.decline, approval.return_for_changes):
        with pytest.raises(Forbidden) as refused:
            action(actor=APPROVER, deposit_id="d1")
        assert refused.value.fields == {"deposit_id": ["is your own deposit"]}
        assert "your own deposit" in refused.value.message
    for action in (approval.claim, approval.release):
        with pytest.raises(Forbidden):
            action(actor=APPROVER, deposit_id="d1")
    with pytest.raises(Forbidden):
        approval.assign(actor=APPROVER, deposit_id="d1", assignee=OTHER_APPROVER)
    with pytest.raises(Forbidden):
        approval.edit_metadata(actor=APPROVER, deposit_id="d1", metadata={"title": "Mine"})
    with pytest.raises(Forbidden):
        approval.add_note(actor=APPROVER, deposit_id="d1", text="Looks great to me")
    # nor may a colleague hand it to them
    with pytest.raises(InvalidInput) as handed:
        approval.assign(actor=OTHER_APPROVER, deposit_id="d1", assignee=APPROVER)
    assert handed.value.fields == {"assignee": ["deposited it"]}
    assert outbox(approval.database) == []
    # a colleague decides as usual
    assert approval.approve(actor=OTHER_APPROVER, deposit_id="d1")["state"] == "decided"


def test_managers_are_refused_their_own_deposit_too(approval):
    approval.on_deposit_validated(validated(depositor=MANAGER))
    with pytest.raises(Forbidden):
        approval.approve(actor=MANAGER, deposit_id="d1")
    assert approval.approve(actor=APPROVER, deposit_id="d1")["state"] == "decided"


def test_a_bulk_decision_refuses_only_the_approvers_own_deposits(approval):
    approval.on_deposit_validated(validated(deposit_id="theirs"))
    approval.on_deposit_validated(validated(deposit_id="mine", depositor=APPROVER))
    approval.on_deposit_validated(validated(deposit_id="also-theirs"))
    results = approval.decide_many(
        actor=APPROVER, deposit_ids=["theirs", "mine", "also-theirs"], decision="approve"
    )
    assert [(r["deposit_id"], r["code"]) for r in results] == [
        ("theirs", "ok"),
        ("mine", "forbidden"),
        ("also-theirs", "ok"),
    ]
    assert "your own deposit" in results[1]["message"]
    assert {e["deposit_id"] for e in outbox(approval.database, "deposit_approved")} == {
        "theirs",
        "also-theirs",
    }


def test_the_queue_marks_the_approvers_own_deposit_and_hides_its_notes(approval):
    approval.on_deposit_validated(validated(deposit_id="theirs"))
    approval.on_deposit_validated(validated(deposit_id="mine", depositor=APPROVER))
    approval.add_note(actor=OTHER_APPROVER, deposit_id="mine", text="Check the licence")
    items = {t["deposit_id"]: t["own_deposit"] for t in approval.queue(actor=APPROVER)["items"]}
    assert items == {"theirs": False, "mine": True}
    listed = {
        t["deposit_id"]: t["own_deposit"] for t in approval.list_reviews(actor=APPROVER)["items"]
    }
    assert listed == {"theirs": False, "mine": True}
    assert not any(t["own_deposit"] for t in approval.queue(actor=OTHER_APPROVER)["items"])
    own = approval.get_review(actor=APPROVER, deposit_id="mine")
    assert own["task"]["own_deposit"] and not own["may_decide"]
    assert own["notes"] == []  # staff notes are never shown to the depositor
    theirs = approval.get_review(actor=OTHER_APPROVER, deposit_id="mine")
    assert theirs["may_decide"] and [n["text"] for n in theirs["notes"]] == ["Check the licence"]


def test_the_mediator_counts_as_a_depositor_of_what_they_deposited(approval):
    """Mediated deposits are decided by the system; should one ever wait in the queue
    (a task opened before), the staff member who made it may not decide on it either."""
    mediator = {**APPROVER, "id": "u-staff-approver", "roles": ["approver", "staff"]}
    approval.on_deposit_validated(validated())
    with approval.database.unit_of_work() as uow:
        from services.approval.models import ReviewTask

        row = uow.session.query(ReviewTask).filter_by(deposit_id="d1").one()
        row.deposit = {**row.deposit, "mediated_by": {"id": mediator["id"], "name": "M"}}
    with pytest.raises(Forbidden):
        approval.approve(actor=mediator, deposit_id="d1")
    assert approval.queue(actor=mediator)["items"][0]["own_deposit"]
