"""Intake for staff: deposits on a patron's behalf, the list of every deposit, the dashboard's
figures (computed in SQL, checked here on SQLite and PostgreSQL)."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event

from kernel.contracts.exceptions import Forbidden, InvalidInput
from services.intake import statistics
from services.intake.models import Deposit, HistoryEntry
from tests.services.conftest import (
    APPROVER,
    FACULTY,
    STAFF,
    STUDENT,
    THESIS_METADATA,
    outbox,
)
from tests.services.test_intake import add_pdf, intake, validated  # noqa: F401 (fixture)

TODAY = date(2026, 11, 25)  # a Wednesday; its week starts on Monday 23 November
MONDAY = date(2026, 11, 23)


def at(day: date, hours: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(hours=hours)


def seed(database, profile_id, steps, status="archived", title="A work", depositor="u-student"):
    """A deposit with the given history: (from, to, at, reason_code, revision) per step."""
    deposit_id = uuid.uuid4().hex
    with database.unit_of_work() as uow:
        uow.session.add(
            Deposit(
                id=deposit_id,
                profile_id=profile_id,
                profile_version=1,
                status=status,
                revision=1,
                title=title,
                meta={},
                depositor_id=depositor,
                depositor={"id": depositor, "name": depositor, "email": "", "locale": "en"},
                created_at=steps[0][2],
                updated_at=steps[-1][2],
            )
        )
        uow.session.flush()
        for from_status, to_status, when, reason, revision in steps:
            uow.session.add(
                HistoryEntry(
                    deposit_id=deposit_id,
                    revision=revision,
                    from_status=from_status,
                    to_status=to_status,
                    actor={"id": "x"},
                    reason_code=reason,
                    at=when,
                )
            )
    return deposit_id


def reviewed(
    database, profile_id, submitted_at, hours, decision="approved", reason=None, revision=1
):
    return seed(
        database,
        profile_id,
        [
            (None, "draft", submitted_at - timedelta(hours=1), None, 1),
            ("draft", "submitted", submitted_at, None, revision),
            ("submitted", "in_review", submitted_at + timedelta(minutes=1), None, revision),
            ("in_review", decision, submitted_at + timedelta(hours=hours), reason, revision),
        ],
        status=decision,
    )


def test_statistics_count_statuses_weeks_and_median_time_to_decision(intake):
    database = intake.database
    this_week, last_week = at(MONDAY), at(MONDAY - timedelta(weeks=1), 2)
    reviewed(database, "thesis", this_week, 1)
    reviewed(database, "thesis", this_week, 3, "returned", "metadata_incomplete")
    reviewed(database, "thesis", last_week, 10, "declined", "out_of_scope")
    reviewed(database, "report", last_week, 2)
    reviewed(database, "report", last_week, 4)
    # decided by the system: counted as decisions, but not in the time people wait
    reviewed(database, "report", this_week, 0.001, reason="automatic")
    reviewed(database, "thesis", this_week, 0.001, reason="staff_mediated")
    # long ago: outside the weeks asked for, also for the median
    reviewed(database, "thesis", at(MONDAY - timedelta(weeks=30)), 500)
    seed(database, "thesis", [(None, "draft", this_week, None, 1)], status="draft")

    figures = statistics.deposit_statistics(database.sessions(), weeks=4, today=TODAY)

    assert figures["since"] == MONDAY - timedelta(weeks=3)
    assert figures["by_status"] == {"approved": 6, "returned": 1, "declined": 1, "draft": 1}
    assert figures["total"] == 9
    weeks = {w["week"]: w for w in figures["weeks"]}
    assert list(weeks) == [MONDAY - timedelta(weeks=n) for n in (3, 2, 1, 0)]
    assert weeks[MONDAY] == {
        "week": MONDAY,
        "submitted": 4,
        "approved": 3,
        "returned": 1,
        "declined": 0,
    }
    assert weeks[MONDAY - timedelta(weeks=1)] == {
        "week": MONDAY - timedelta(weeks=1),
        "submitted": 3,
        "approved": 2,
        "returned": 0,
        "declined": 1,
    }
    assert weeks[MONDAY - timedelta(weeks=3)]["submitted"] == 0
    turnaround = {t["profile_id"]: t for t in figures["turnaround"]}
    # thesis: 1 h, 3 h, 10 h → 3 h; report: 2 h, 4 h → 3 h (the middle two averaged)
    assert turnaround["thesis"]["decisions"] == 3
    assert turnaround["thesis"]["median_seconds"] == pytest.approx(3 * 3600, abs=1)
    assert turnaround["report"]["decisions"] == 2
    assert turnaround["report"]["median_seconds"] == pytest.approx(3 * 3600, abs=1)


def test_the_dashboard_rpc_is_for_staff_only(intake):
    for actor in (APPROVER, STAFF):
        assert intake.deposit_statistics(actor=actor, weeks=2)["total"] == 0
    with pytest.raises(Forbidden):
        intake.deposit_statistics(actor=STUDENT, weeks=2)


def test_staff_find_every_deposit_by_status_title_or_depositor(intake):
    database = intake.database
    moss = seed(
        database,
        "thesis",
        [(None, "draft", at(TODAY), None, 1)],
        status="draft",
        title="Mosses of 100% peat",
    )
    tide = seed(
        database,
        "report",
        [(None, "draft", at(TODAY, 1), None, 1)],
        status="archived",
        title="Tides",
        depositor="u-faculty",
    )
    seed(
        database,
        "report",
        [(None, "draft", at(TODAY, 2), None, 1)],
        status="archived",
        title="Peat and heather",
    )

    def ids(**criteria):
        arguments = {
            "status": None,
            "profile_id": None,
            "title": None,
            "depositor_ids": [],
            "depositor_id": None,
            "page": 1,
            "per_page": 25,
            **criteria,
        }
        page = intake.search_deposits(actor=APPROVER, **arguments)
        return [d["id"] for d in page["items"]], page["total"]

    every, total = ids()
    assert total == 3 and every[1:] == [tide, moss]  # newest change first
    assert ids(title="100%") == ([moss], 1)  # wildcards in the words are literal
    assert ids(title="tides", depositor_ids=["u-student"])[1] == 3
    assert ids(depositor_ids=["u-faculty"]) == ([tide], 1)
    assert ids(status="archived", profile_id="report", depositor_id="u-faculty") == ([tide], 1)
    assert ids(per_page=2, page=2)[0] == [moss]
    with pytest.raises(Forbidden):
        intake.search_deposits(
            actor=STUDENT,
            status=None,
            profile_id=None,
            title=None,
            depositor_ids=[],
            depositor_id=None,
            page=1,
            per_page=25,
        )


def test_a_mediated_deposit_names_its_mediator_in_every_status_change(intake, storage):
    deposit = intake.create_deposit(
        actor=STAFF, profile_id="thesis", metadata=THESIS_METADATA, on_behalf_of=STUDENT
    )
    assert deposit["depositor"]["id"] == STUDENT["id"]
    assert deposit["mediated_by"]["name"] == "Robin Staff"
    add_pdf(intake, storage, STAFF, deposit["id"])
    intake.update_deposit(actor=STAFF, deposit_id=deposit["id"], accept_terms=True)
    submitted = intake.submit(actor=STAFF, deposit_id=deposit["id"])
    intake.on_deposit_validated(validated(submitted))
    changes = outbox(intake.database, "deposit_status_changed")
    assert [c["to_status"] for c in changes] == ["submitted", "in_review"]
    assert all(c["mediated_by"]["id"] == STAFF["id"] for c in changes)
    [event] = outbox(intake.database, "deposit_submitted")
    assert event["deposit"]["mediated_by"]["id"] == STAFF["id"]
    # the patron sees it among their deposits; another patron cannot see it
    mine = intake.list_deposits(actor=STUDENT, status=None, depositor_id=None, page=1, per_page=25)
    assert [d["mediated_by"]["id"] for d in mine["items"]] == [STAFF["id"]]
    others = intake.list_deposits(
        actor=FACULTY, status=None, depositor_id=None, page=1, per_page=25
    )
    assert others["total"] == 0


def test_only_staff_deposit_on_behalf_of_someone_and_never_for_themselves(intake):
    for actor in (FACULTY, APPROVER):
        with pytest.raises(Forbidden):
            intake.create_deposit(
                actor=actor, profile_id="open-works", metadata={}, on_behalf_of=STUDENT
            )
    with pytest.raises(InvalidInput) as refused:
        intake.create_deposit(actor=STAFF, profile_id="open-works", metadata={}, on_behalf_of=STAFF)
    assert refused.value.fields == {"on_behalf_of": ["is yourself"]}


# --- who may deposit on a patron's behalf, per profile -----------------------------------


def _profile(intake, profile_id, **changes):
    from kernel.contracts.profiles import ProfileDefinitionSchema
    from services.intake.deposits import save_profile
    from services.intake.seed import DEMO_PROFILES, SYSTEM_ACTOR

    definition = {**DEMO_PROFILES["open-works"], "name": profile_id, **changes}
    with intake.database.unit_of_work() as uow:
        save_profile(
            uow, SYSTEM_ACTOR, profile_id, ProfileDefinitionSchema().load(definition), create=True
        )


def test_a_profile_says_who_may_deposit_with_it_on_a_patrons_behalf(intake):
    _profile(intake, "restricted", allowed_groups=["student"])
    _profile(intake, "retired", active=False)
    _profile(intake, "retired-library", active=False, mediators={"groups": ["library"]})
    _profile(intake, "managers-only", mediators={"roles": ["manager"]})
    _profile(intake, "nobody", mediators={"roles": [], "groups": []})
    library_manager = {**STAFF, "id": "u-staff-manager", "roles": ["staff", "manager"]}
    other_staff = {**STAFF, "id": "u-staff-2", "groups": ["registry"]}

    def mediated(actor):
        return {p["id"] for p in intake.list_profiles(actor=actor, mediated=True)}

    def for_the_student(actor, profile_id):
        return intake.create_deposit(
            actor=actor, profile_id=profile_id, metadata={}, on_behalf_of=STUDENT
        )

    # the default is the staff role, but only for an active profile open to every group;
    # the demo thesis profile is for students, so it names the staff role
    assert mediated(STAFF) == {"open-works", "thesis", "retired-library"}
    assert mediated(other_staff) == {"open-works", "thesis"}
    assert mediated(library_manager) == {"open-works", "thesis", "retired-library", "managers-only"}
    assert mediated(APPROVER) == mediated(STUDENT) == set()
    for actor, profile_id in (
        (STAFF, "restricted"),
        (STAFF, "retired"),
        (STAFF, "managers-only"),
        (STAFF, "nobody"),
        (other_staff, "retired-library"),
    ):
        with pytest.raises(Forbidden) as refused:
            for_the_student(actor, profile_id)
        assert refused.value.fields == {"profile_id": ["does not name you among its mediators"]}
    assert for_the_student(STAFF, "retired-library")["mediated_by"]["id"] == STAFF["id"]
    assert for_the_student(library_manager, "managers-only")["depositor"]["id"] == STUDENT["id"]
    # a patron in a named group is still no mediator: that needs the staff role
    with pytest.raises(Forbidden):
        for_the_student({**FACULTY, "groups": ["library"]}, "retired-library")
    # staff still deposit for themselves with any profile, as before
    assert (
        intake.create_deposit(actor=STAFF, profile_id="nobody", metadata={})["mediated_by"] is None
    )


def test_the_profile_list_is_one_statement_and_shows_each_new_version(intake):
    for number in range(6):
        _profile(intake, f"extra-{number}", active=number % 2 == 0)
    intake.list_profiles(actor=STAFF, include_inactive=True)  # each version read once
    statements = []
    engine = intake.database.engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731 - the statement's text
    event.listen(engine, "before_cursor_execute", listen)
    try:
        listed = intake.list_profiles(actor=STAFF, include_inactive=True)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    reads = [text for text in statements if text.startswith("SELECT")]
    assert len(reads) == 1, reads  # the profiles; not their versions one by one
    assert {p["id"] for p in listed} >= {f"extra-{number}" for number in range(6)}
    assert "extra-1" not in {p["id"] for p in intake.list_profiles(actor=STAFF)}  # inactive
    # a new version is what the list shows next, not the one read before
    _profile_version(intake, "extra-0", name="Renamed")
    listed = {p["id"]: p for p in intake.list_profiles(actor=STAFF, include_inactive=True)}
    assert (listed["extra-0"]["name"], listed["extra-0"]["version"]) == ("Renamed", 2)


def _profile_version(intake, profile_id, **changes):
    from kernel.contracts.profiles import ProfileDefinitionSchema
    from services.intake.deposits import save_profile
    from services.intake.seed import DEMO_PROFILES, SYSTEM_ACTOR

    definition = {**DEMO_PROFILES["open-works"], **changes}
    with intake.database.unit_of_work() as uow:
        save_profile(uow, SYSTEM_ACTOR, profile_id, ProfileDefinitionSchema().load(definition))


def test_an_approver_cannot_edit_their_own_deposit_under_review(intake, storage):
    depositing_approver = {**APPROVER, "id": "u-approver-depositor"}
    deposit = intake.create_deposit(
        actor=depositing_approver, profile_id="thesis", metadata=THESIS_METADATA
    )
    add_pdf(intake, storage, depositing_approver, deposit["id"])
    intake.update_deposit(actor=depositing_approver, deposit_id=deposit["id"], accept_terms=True)
    submitted = intake.submit(actor=depositing_approver, deposit_id=deposit["id"])
    intake.on_deposit_validated(validated(submitted))
    edited = {**THESIS_METADATA, "title": "On Moss, improved by its author"}
    with pytest.raises(Forbidden) as refused:
        intake.review_metadata(actor=depositing_approver, deposit_id=deposit["id"], metadata=edited)
    assert refused.value.fields == {"deposit_id": ["is your own deposit"]}
    assert (
        intake.review_metadata(actor=APPROVER, deposit_id=deposit["id"], metadata=edited)["title"]
        == edited["title"]
    )


def test_the_dashboard_lists_deposits_made_for_patrons_with_who_made_them(intake):
    first = intake.create_deposit(
        actor=STAFF, profile_id="thesis", metadata=THESIS_METADATA, on_behalf_of=STUDENT
    )
    intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    second = intake.create_deposit(
        actor=STAFF, profile_id="open-works", metadata={"title": "Granite"}, on_behalf_of=FACULTY
    )
    long_ago = intake.create_deposit(
        actor=STAFF, profile_id="open-works", metadata={"title": "Old"}, on_behalf_of=FACULTY
    )
    with intake.database.unit_of_work() as uow:
        uow.session.get(Deposit, long_ago["id"]).created_at = at(date(2020, 1, 6))
        uow.session.get(Deposit, second["id"]).created_at += timedelta(seconds=1)
    mediated = intake.deposit_statistics(actor=APPROVER, weeks=4)["mediated"]
    assert mediated["total"] == 2
    assert [
        (m["deposit_id"], m["depositor"]["name"], m["mediated_by"]["name"], m["title"])
        for m in mediated["items"]
    ] == [
        (second["id"], "Fran Faculty", "Robin Staff", "Granite"),
        (first["id"], "Sam Student", "Robin Staff", "On Moss"),
    ]
    assert mediated["items"][0]["status"] == "draft"
    with pytest.raises(Forbidden):
        intake.deposit_statistics(actor=STUDENT, weeks=4)
