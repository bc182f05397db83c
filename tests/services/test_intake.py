"""Intake's workers on a real database: deposits, outcomes arriving in any order, idempotency."""

import pytest
from nameko.testing.services import worker_factory

from kernel.contracts.exceptions import (
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from kernel.contracts.profiles import ProfileDefinitionSchema
from services.intake.deposits import save_profile
from services.intake.seed import DEMO_PROFILES, SYSTEM_ACTOR
from services.intake.service import IntakeService
from tests.services.conftest import (
    FACULTY,
    PDF,
    STAFF,
    STUDENT,
    THESIS_METADATA,
    loaded_event,
    outbox,
)


@pytest.fixture
def intake(database_for, storage):
    database = database_for("intake")
    with database.unit_of_work() as uow:
        for profile_id, definition in DEMO_PROFILES.items():
            save_profile(
                uow,
                SYSTEM_ACTOR,
                profile_id,
                ProfileDefinitionSchema().load(definition),
                create=True,
            )
    service = worker_factory(IntakeService, store=database, storage=storage)
    service.database = database
    return service


def add_pdf(intake, storage, actor, deposit_id, name="thesis.pdf"):
    stored = storage.save(f"staging/{deposit_id}/{name.replace('.', '-')}", iter([PDF]))
    return intake.add_file(
        actor=actor,
        deposit_id=deposit_id,
        file={
            "id": name.replace(".", "-"),
            "filename": name,
            "size": stored.size,
            "sha256": stored.sha256,
            "md5": stored.md5,
            "media_type": "application/pdf",
            "storage_key": stored.key,
        },
    )


def submitted_thesis(intake, storage):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    add_pdf(intake, storage, STUDENT, deposit["id"])
    intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], accept_terms=True)
    return intake.submit(actor=STUDENT, deposit_id=deposit["id"])


def outcome(source, event_type, subject, **payload):
    return loaded_event(
        source, event_type, deposit_id=subject["id"], revision=subject["revision"], **payload
    )


def validated(deposit, passed=True):
    report = {
        "revision": deposit["revision"],
        "passed": passed,
        "checks": [],
        "files": [],
        "checked_at": "2026-11-29T10:00:00+00:00",
    }
    snapshot = outbox_snapshot(deposit)
    return outcome(
        "validation", "deposit_validated", deposit, passed=passed, report=report, deposit=snapshot
    )


def outbox_snapshot(deposit):
    return {
        "id": deposit["id"],
        "revision": deposit["revision"],
        "title": deposit["title"],
        "profile": {
            "id": "thesis",
            "version": 1,
            "file_rules": {},
            "target_collection": "theses",
            "approval": {"mode": "manual"},
        },
        "depositor": deposit["depositor"],
        "metadata": deposit["metadata"],
        "files": [],
    }


def decision(kind="approve", reason=None, note=None):
    return {
        "decision": kind,
        "actor": {"id": "u-approver", "name": "Alex Approver"},
        "reason_code": reason,
        "note": note,
        "at": "2026-11-29T10:00:00+00:00",
    }


def statuses(intake, deposit_id):
    deposit = intake.get_deposit(actor=STUDENT, deposit_id=deposit_id)
    return [step["to_status"] for step in deposit["history"]], deposit


def test_submit_commits_the_event_with_the_state_change(intake, storage):
    deposit = submitted_thesis(intake, storage)
    assert deposit["status"] == "submitted" and deposit["revision"] == 1
    [event] = outbox(intake.database, "deposit_submitted")
    assert event["deposit"]["profile"]["approval"]["mode"] == "manual"
    assert event["deposit"]["files"][0]["sha256"] == deposit["files"][0]["sha256"]
    changes = outbox(intake.database, "deposit_status_changed")
    assert [c["to_status"] for c in changes] == ["submitted"]


def test_missing_required_metadata_is_refused_on_submit_and_nothing_changes(intake, storage):
    metadata = {key: value for key, value in THESIS_METADATA.items() if key != "abstract"}
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=metadata)
    add_pdf(intake, storage, STUDENT, deposit["id"])
    with pytest.raises(InvalidInput) as error:
        intake.submit(actor=STUDENT, deposit_id=deposit["id"])
    assert error.value.fields == {
        "metadata": {"abstract": ["is required"]},
        "accept_terms": ["the terms must be accepted"],
    }
    assert intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])["status"] == "draft"
    assert outbox(intake.database) == []


def test_invalid_metadata_saves_nothing(intake):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={"title": "A"})
    with pytest.raises(InvalidInput) as error:
        intake.update_deposit(
            actor=STUDENT,
            deposit_id=deposit["id"],
            metadata={"title": "B", "date": "2026-13", "colour": "red"},
        )
    assert set(error.value.fields["metadata"]) == {"date", "colour"}
    assert intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])["metadata"] == {"title": "A"}


def test_another_patron_sees_nothing(intake):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    for call in (
        lambda: intake.get_deposit(actor=FACULTY, deposit_id=deposit["id"]),
        lambda: intake.submit(actor=FACULTY, deposit_id=deposit["id"]),
        lambda: intake.update_deposit(
            actor=FACULTY, deposit_id=deposit["id"], metadata={"title": "mine now"}
        ),
    ):
        with pytest.raises(NotFound):
            call()
    assert intake.list_deposits(actor=FACULTY)["total"] == 0


def test_profile_groups_restrict_who_may_deposit(intake):
    with pytest.raises(Forbidden):
        intake.create_deposit(actor=FACULTY, profile_id="thesis", metadata={})
    assert [p["id"] for p in intake.list_profiles(actor=FACULTY)] == ["open-works"]
    with pytest.raises(NotFound):
        intake.create_deposit(actor=STUDENT, profile_id="nope", metadata={})


def test_only_staff_deposit_on_behalf(intake):
    with pytest.raises(Forbidden):
        intake.create_deposit(
            actor=FACULTY, profile_id="open-works", metadata={}, on_behalf_of=STUDENT
        )
    deposit = intake.create_deposit(
        actor=STAFF, profile_id="thesis", metadata={}, on_behalf_of=STUDENT
    )
    assert deposit["depositor"]["id"] == STUDENT["id"]
    assert deposit["mediated_by"]["id"] == STAFF["id"]
    assert intake.list_deposits(actor=STUDENT)["total"] == 1


def test_outcomes_move_the_deposit_through_review_to_archived(intake, storage):
    deposit = submitted_thesis(intake, storage)
    intake.on_deposit_validated(validated(deposit))
    intake.on_deposit_approved(
        outcome(
            "approval",
            "deposit_approved",
            deposit,
            deposit=outbox_snapshot(deposit),
            decision=decision(note="Lovely"),
        )
    )
    intake.on_item_created(
        outcome(
            "inventory",
            "item_created",
            deposit,
            item_id="i1",
            identifier="ark:/99999/lodge-i1",
            collection="theses",
            decision=decision(),
            doi="10.5072/i1",
        )
    )
    steps, current = statuses(intake, deposit["id"])
    assert steps == ["draft", "submitted", "in_review", "approved", "archived"]
    assert current["item_id"] == "i1" and current["item_identifier"] == "ark:/99999/lodge-i1"
    assert current["item_doi"] == "10.5072/i1"  # for the depositor's page and the letter
    [archived] = [
        e for e in outbox(intake.database, "deposit_status_changed") if e["to_status"] == "archived"
    ]
    assert archived["item_doi"] == "10.5072/i1"
    assert current["history"][3]["note"] == "Lovely"


def test_an_outcome_that_overtakes_earlier_ones_records_the_implied_steps(intake, storage):
    deposit = submitted_thesis(intake, storage)
    intake.on_item_created(
        outcome(
            "inventory",
            "item_created",
            deposit,
            item_id="i1",
            identifier="ark:/1/i1",
            collection="theses",
            decision=decision(note="by Alex"),
        )
    )
    # the earlier outcomes arrive late and change nothing
    intake.on_deposit_validated(validated(deposit))
    intake.on_deposit_approved(
        outcome(
            "approval",
            "deposit_approved",
            deposit,
            deposit=outbox_snapshot(deposit),
            decision=decision(),
        )
    )
    steps, current = statuses(intake, deposit["id"])
    assert steps == ["draft", "submitted", "in_review", "approved", "archived"]
    assert current["history"][3]["actor"]["name"] == "Alex Approver"
    assert current["history"][3]["note"] == "by Alex"


def test_a_redelivered_event_is_handled_once(intake, storage):
    deposit = submitted_thesis(intake, storage)
    event = validated(deposit, passed=False)
    intake.on_deposit_validated(event)
    intake.on_deposit_validated(event)
    steps, current = statuses(intake, deposit["id"])
    assert steps == ["draft", "submitted", "returned"]
    assert current["validation_report"]["passed"] is False
    assert current["history"][-1]["reason_code"] == "checks_failed"


def test_return_edit_resubmit_raises_the_revision_and_ignores_older_revisions(intake, storage):
    deposit = submitted_thesis(intake, storage)
    intake.on_deposit_validated(validated(deposit))
    intake.on_deposit_returned(
        outcome(
            "approval",
            "deposit_returned",
            deposit,
            deposit=outbox_snapshot(deposit),
            decision={
                **decision("return", "metadata_incomplete", "More"),
                "reason_label": "Needs more detail",
            },
        )
    )
    # the step keeps the label the depositor is told, and passes it on to letters
    returned = intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])["history"][-1]
    assert (returned["reason_code"], returned["reason_label"]) == (
        "metadata_incomplete",
        "Needs more detail",
    )
    changed = [
        e for e in outbox(intake.database, "deposit_status_changed") if e["to_status"] == "returned"
    ]
    assert [e["reason_label"] for e in changed] == ["Needs more detail"]
    intake.update_deposit(
        actor=STUDENT,
        deposit_id=deposit["id"],
        metadata={**THESIS_METADATA, "abstract": "Much more about moss."},
    )
    resubmitted = intake.submit(actor=STUDENT, deposit_id=deposit["id"])
    assert resubmitted["revision"] == 2
    # an approval of revision 1 arriving now is stale
    intake.on_deposit_approved(
        outcome(
            "approval",
            "deposit_approved",
            deposit,
            deposit=outbox_snapshot(deposit),
            decision=decision(),
        )
    )
    steps, current = statuses(intake, deposit["id"])
    assert current["status"] == "submitted"
    assert steps == ["draft", "submitted", "in_review", "returned", "submitted"]


def test_invalid_transition_is_a_clear_error_and_changes_nothing(intake, storage):
    deposit = submitted_thesis(intake, storage)
    with pytest.raises(InvalidTransition) as error:
        intake.submit(actor=STUDENT, deposit_id=deposit["id"])
    assert "submitted" in error.value.message
    with pytest.raises(Exception, match="cannot be changed"):
        add_pdf(intake, storage, STUDENT, deposit["id"], name="late.pdf")
    assert len(outbox(intake.database, "deposit_submitted")) == 1


def test_withdraw_stops_review_first(intake, storage):
    deposit = submitted_thesis(intake, storage)
    withdrawn = intake.withdraw(actor=STUDENT, deposit_id=deposit["id"], note="Wrong file")
    assert withdrawn["status"] == "withdrawn"
    intake.approval.cancel_review.assert_called_once_with(deposit_id=deposit["id"], revision=1)
    assert [e["deposit_id"] for e in outbox(intake.database, "deposit_withdrawn")] == [
        deposit["id"]
    ]


def test_removing_a_file_deletes_its_staged_copy(intake, storage):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    added = add_pdf(intake, storage, STUDENT, deposit["id"])
    assert storage.exists(added["storage_key"])
    intake.remove_file(actor=STUDENT, deposit_id=deposit["id"], file_id=added["id"])
    assert not storage.exists(added["storage_key"])
    assert intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])["files"] == []


def test_upload_policy_reports_the_limits_left(intake, storage):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    add_pdf(intake, storage, STUDENT, deposit["id"])
    policy = intake.upload_policy(actor=STUDENT, deposit_id=deposit["id"])
    rules = DEMO_PROFILES["thesis"]["file_rules"]
    assert policy["max_file_size"] == min(
        rules["max_file_size"], rules["max_total_size"] - len(PDF)
    )
    assert policy["allowed_extensions"] == rules["allowed_extensions"]
