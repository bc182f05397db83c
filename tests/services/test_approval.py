"""Approval's workers on a real database: the queue, decisions, conflicts, automatic approval."""
import datetime
import pytest
from nameko.testing.services import worker_factory

from services.approval.review import seed_reasons
from services.approval.service import ApprovalService
from services.common.exceptions import Conflict, Forbidden, InvalidInput
from tests.services.conftest import (APPROVER, MANAGER, OTHER_APPROVER, STUDENT, loaded_event,
                                     outbox)


@pytest.fixture
def approval(database_for):
    database = database_for("approval")
    with database.unit_of_work() as uow:
        seed_reasons(uow.session)
    service = worker_factory(ApprovalService, store=database)
    service.database = database
    return service


def snapshot(deposit_id="d1", revision=1, mode="manual", mediated_by=None, groups=("approvers",)):
    return {"id": deposit_id, "revision": revision, "title": "On Moss",
            "profile": {"id": "thesis", "version": 1, "name": "Thesis", "fields": [],
                        "file_rules": {}, "approval": {"mode": mode, "approver_groups": list(groups)},
                        "target_collection": "theses", "access": "open"},
            "depositor": {"id": STUDENT["id"], "name": STUDENT["name"], "email": STUDENT["email"]},
            "mediated_by": mediated_by, "metadata": {"title": "On Moss"}, "files": []}


def validated(passed=True, **kwargs):
    deposit = snapshot(**kwargs)
    report = {"revision": deposit["revision"], "passed": passed, "checks": [], "files": [],
              "checked_at": "2026-11-29T10:00:00+00:00"}
    return loaded_event("validation", "deposit_validated", deposit_id=deposit["id"],
                        revision=deposit["revision"], passed=passed, report=report, deposit=deposit)


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


def test_a_redelivered_validation_opens_one_task(approval):
    event = validated(mode="automatic")
    approval.on_deposit_validated(event)
    approval.on_deposit_validated(event)
    assert len(outbox(approval.database, "deposit_approved")) == 1


def test_decide_takes_the_claim_and_the_second_decision_conflicts(approval):
    approval.on_deposit_validated(validated())
    task = approval.decline(actor=APPROVER, deposit_id="d1", reason_code="duplicate", note="Seen it")
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
    event["deposit"]["access"] = {"policy": "embargo",
                                  "embargo_until": datetime.date(2027, 1, 31)}
    approval.on_deposit_validated(event)
    [approved] = outbox(approval.database, "deposit_approved")
    assert approved["deposit"]["access"] == {"policy": "embargo", "embargo_until": "2027-01-31"}
