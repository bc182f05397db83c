"""Deposits a campus system makes for patrons: intake keeps the request (origin) and echoes it
in the view, the snapshot and every status change; the mode decides who the deposit is
whose, and what the system's account may do with it."""

import pytest

from kernel.contracts.exceptions import Forbidden, InvalidInput, NotFound
from tests.services.conftest import FACULTY, STUDENT, THESIS_METADATA, outbox
from tests.services.test_intake import add_pdf, intake, validated  # noqa: F401 (fixture)
from tests.services.test_intake_staff import _profile

# a registered system's own account: no roles, no groups, named by the system's label
SYSTEM_ACCOUNT = {
    "id": "u-system-thesis-flow",
    "username": "system-thesis-flow",
    "name": "Thesis workflow",
    "email": "",
    "groups": [],
    "roles": [],
    "locale": "en",
}


def origin(mode, event_id="evt-1"):
    return {
        "system": "thesis-flow",
        "source": "urn:thesis-flow",
        "event_id": event_id,
        "mode": mode,
    }


def system_deposit(intake, mode, profile_id="thesis", on_behalf_of=STUDENT):
    return intake.create_deposit(
        actor=SYSTEM_ACCOUNT,
        profile_id=profile_id,
        metadata=THESIS_METADATA,
        on_behalf_of=on_behalf_of,
        origin=origin(mode),
    )


def complete_and_submit(intake, storage, actor, deposit_id):
    add_pdf(intake, storage, actor, deposit_id)
    intake.update_deposit(actor=actor, deposit_id=deposit_id, accept_terms=True)
    return intake.submit(actor=actor, deposit_id=deposit_id)


def test_a_mediated_system_deposit_names_the_system_and_carries_its_request(intake, storage):
    # the thesis profile is open to students only: the registration, not the system's
    # groups, lets it use the profile
    deposit = system_deposit(intake, "mediated")
    assert deposit["depositor"]["id"] == STUDENT["id"]
    assert deposit["mediated_by"]["name"] == "Thesis workflow"
    assert deposit["origin"] == origin("mediated")
    submitted = complete_and_submit(intake, storage, SYSTEM_ACCOUNT, deposit["id"])
    assert submitted["status"] == "submitted" and submitted["origin"] == origin("mediated")
    intake.on_deposit_validated(validated(submitted))
    [event] = outbox(intake.database, "deposit_submitted")
    assert event["deposit"]["origin"] == origin("mediated")
    assert event["deposit"]["mediated_by"]["id"] == SYSTEM_ACCOUNT["id"]
    changes = outbox(intake.database, "deposit_status_changed")
    assert [c["to_status"] for c in changes] == ["submitted", "in_review"]
    assert all(c["origin"] == origin("mediated") for c in changes)
    # the patron sees it as theirs
    mine = intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])
    assert mine["origin"]["system"] == "thesis-flow"


def test_in_submit_mode_the_patron_is_the_depositor_and_the_system_acts_only_on_the_draft(
    intake, storage
):
    deposit = system_deposit(intake, "submit")
    assert deposit["mediated_by"] is None
    assert deposit["allowed_actions"] == ["edit", "submit", "withdraw"]
    submitted = complete_and_submit(intake, storage, SYSTEM_ACCOUNT, deposit["id"])
    assert submitted["status"] == "submitted"
    # it follows the deposit, but it is the patron's now
    seen = intake.get_deposit(actor=SYSTEM_ACCOUNT, deposit_id=deposit["id"])
    assert seen["allowed_actions"] == []
    with pytest.raises(Forbidden):
        intake.withdraw(actor=SYSTEM_ACCOUNT, deposit_id=deposit["id"], note=None)
    assert intake.withdraw(actor=STUDENT, deposit_id=deposit["id"], note=None)["status"] == (
        "withdrawn"
    )
    [change] = [
        c
        for c in outbox(intake.database, "deposit_status_changed")
        if c["to_status"] == "withdrawn"
    ]
    assert change["origin"] == origin("submit") and change["mediated_by"] is None


def test_in_draft_mode_the_system_fills_the_draft_and_the_patron_submits(intake, storage):
    deposit = system_deposit(intake, "draft")
    add_pdf(intake, storage, SYSTEM_ACCOUNT, deposit["id"])
    intake.update_deposit(actor=SYSTEM_ACCOUNT, deposit_id=deposit["id"], accept_terms=True)
    with pytest.raises(Forbidden) as refused:
        intake.submit(actor=SYSTEM_ACCOUNT, deposit_id=deposit["id"])
    assert "submit" in refused.value.fields
    assert intake.submit(actor=STUDENT, deposit_id=deposit["id"])["status"] == "submitted"
    [change] = outbox(intake.database, "deposit_status_changed")
    assert change["actor"]["id"] == STUDENT["id"] and change["origin"] == origin("draft")


def test_a_system_deposits_for_a_patron_with_an_active_profile_only(intake):
    with pytest.raises(InvalidInput) as refused:
        system_deposit(intake, "mediated", on_behalf_of=None)
    assert refused.value.fields == {"on_behalf_of": ["is required"]}
    with pytest.raises(InvalidInput):
        system_deposit(intake, "submit", on_behalf_of=SYSTEM_ACCOUNT)
    _profile(intake, "retired", active=False)
    with pytest.raises(Forbidden) as refused:
        system_deposit(intake, "mediated", profile_id="retired")
    assert refused.value.fields == {"profile_id": ["is inactive"]}
    with pytest.raises(NotFound):
        system_deposit(intake, "mediated", profile_id="no-such-profile")


def test_other_systems_and_patrons_neither_see_nor_touch_a_systems_deposit(intake, storage):
    deposit = system_deposit(intake, "submit")
    other_system = {**SYSTEM_ACCOUNT, "id": "u-system-other", "username": "system-other"}
    for outsider in (other_system, FACULTY):
        with pytest.raises(NotFound):
            intake.get_deposit(actor=outsider, deposit_id=deposit["id"])
        with pytest.raises(NotFound):
            add_pdf(intake, storage, outsider, deposit["id"])


def test_without_an_origin_a_plain_account_still_may_not_deposit_for_someone(intake):
    with pytest.raises(Forbidden):
        intake.create_deposit(
            actor=SYSTEM_ACCOUNT, profile_id="open-works", metadata={}, on_behalf_of=STUDENT
        )
