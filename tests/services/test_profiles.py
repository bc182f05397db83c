"""Profiles and what depositors control within them, on a real database."""

from datetime import date, timedelta

import pytest
from nameko.testing.services import worker_factory

from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from kernel.contracts.profiles import ProfileDefinitionSchema
from kernel.platform.db import Database
from lodge.migrations import upgrade
from services.intake.deposits import add_months, profile_definition, save_profile
from services.intake.seed import DEMO_PROFILES
from services.intake.service import IntakeService
from tests.services.conftest import FACULTY, MANAGER, STAFF, STUDENT, THESIS_METADATA
from tests.services.test_intake import add_pdf

MANAGER_ACTOR = Actor.from_wire(MANAGER)


@pytest.fixture
def intake(database_for, storage):
    service = worker_factory(IntakeService, store=database_for("intake"), storage=storage)
    service.inventory.list_collections.return_value = [
        {"id": "theses", "name": "Theses"},
        {"id": "open-works", "name": "Open works"},
    ]
    for profile_id, definition in DEMO_PROFILES.items():
        service.save_profile(
            actor=MANAGER, profile_id=profile_id, definition=definition, create=True
        )
    return service


def definition(**changes):
    return {**DEMO_PROFILES["thesis"], **changes}


def test_editing_a_profile_adds_a_version_and_deposits_keep_theirs(intake, storage):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    extra = {"key": "supervisor", "label": "Supervisor", "type": "person", "required": True}
    edited = intake.save_profile(
        actor=MANAGER,
        profile_id="thesis",
        definition=definition(fields=DEMO_PROFILES["thesis"]["fields"] + [extra]),
    )
    assert edited["version"] == 2
    assert [v["version"] for v in intake.profile_versions(actor=MANAGER, profile_id="thesis")] == [
        2,
        1,
    ]
    assert intake.get_profile(actor=STUDENT, profile_id="thesis", version=1)["version"] == 1
    with pytest.raises(NotFound):
        intake.get_profile(actor=STUDENT, profile_id="thesis", version=99)
    # the deposit was made under version 1, which has no supervisor field
    add_pdf(intake, storage, STUDENT, deposit["id"])
    intake.update_deposit(
        actor=STUDENT, deposit_id=deposit["id"], metadata=THESIS_METADATA, accept_terms=True
    )
    submitted = intake.submit(actor=STUDENT, deposit_id=deposit["id"])
    assert submitted["profile_version"] == 1 and submitted["status"] == "submitted"


def test_profile_changes_need_a_manager_and_valid_rules(intake):
    with pytest.raises(Forbidden):
        intake.save_profile(actor=STAFF, profile_id="thesis", definition=definition())
    with pytest.raises(Conflict):
        intake.save_profile(
            actor=MANAGER, profile_id="thesis", definition=definition(), create=True
        )
    with pytest.raises(NotFound):
        intake.save_profile(actor=MANAGER, profile_id="nope", definition=definition())
    with pytest.raises(InvalidInput) as error:
        intake.save_profile(
            actor=MANAGER, profile_id="thesis", definition=definition(target_collection="nowhere")
        )
    assert error.value.fields == {"target_collection": ["unknown collection"]}
    with pytest.raises(InvalidInput) as error:
        intake.save_profile(
            actor=MANAGER, profile_id="other", definition=definition(name="Thesis"), create=True
        )
    assert error.value.fields == {"name": ["already used"]}
    with pytest.raises(InvalidInput) as error:
        intake.save_profile(
            actor=MANAGER,
            profile_id="thesis",
            definition=definition(
                access="embargo", fields=[{"key": "x", "label": "X", "type": "choice"}]
            ),
        )
    assert set(error.value.fields["definition"]) == {"embargo_max_months", "fields"}


def test_inactive_profiles_are_for_staff_only(intake):
    intake.save_profile(actor=MANAGER, profile_id="thesis", definition=definition(active=False))
    assert [p["id"] for p in intake.list_profiles(actor=STUDENT)] == ["open-works"]
    with pytest.raises(Forbidden):
        intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    staff_view = intake.list_profiles(actor=STAFF, include_inactive=True)
    assert {p["id"]: p["active"] for p in staff_view} == {"open-works": True, "thesis": False}
    assert [p["id"] for p in intake.list_profiles(actor=STAFF)] == ["open-works"]
    intake.create_deposit(actor=STAFF, profile_id="thesis", metadata={}, on_behalf_of=STUDENT)


def test_terms_acceptance_is_recorded_with_the_version(intake):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    assert deposit["terms_accepted_at"] is None
    accepted = intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], accept_terms=True)
    assert accepted["terms_version"] == 1 and accepted["terms_accepted_at"]
    withdrawn = intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], accept_terms=False)
    assert withdrawn["terms_version"] is None


def test_embargo_within_the_profile_limit(intake):
    intake.save_profile(
        actor=MANAGER,
        profile_id="thesis",
        definition=definition(access="embargo", embargo_max_months=24),
    )
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    assert deposit["access"] == {"policy": "open", "embargo_until": None}
    limit = add_months(date.today(), 24)
    chosen = intake.update_deposit(
        actor=STUDENT,
        deposit_id=deposit["id"],
        access={"policy": "embargo", "embargo_until": limit},
    )
    assert chosen["access"] == {"policy": "embargo", "embargo_until": limit.isoformat()}
    for until in (limit + timedelta(days=1), date.today()):
        with pytest.raises(InvalidInput) as error:
            intake.update_deposit(
                actor=STUDENT,
                deposit_id=deposit["id"],
                access={"policy": "embargo", "embargo_until": until},
            )
        assert "embargo_until" in error.value.fields["access"]
    with pytest.raises(InvalidInput):
        intake.update_deposit(
            actor=STUDENT,
            deposit_id=deposit["id"],
            access={"policy": "campus", "embargo_until": None},
        )


def test_add_months_keeps_to_the_calendar():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 14) == date(2028, 1, 15)


def test_metadata_only_deposits_where_the_profile_allows(intake):
    intake.save_profile(
        actor=MANAGER,
        profile_id="thesis",
        definition=definition(
            file_rules={**DEMO_PROFILES["thesis"]["file_rules"], "metadata_only_allowed": True}
        ),
    )
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], accept_terms=True)
    assert intake.submit(actor=STUDENT, deposit_id=deposit["id"])["status"] == "submitted"
    other = intake.create_deposit(
        actor=STUDENT,
        profile_id="open-works",
        metadata={key: THESIS_METADATA[key] for key in ("title", "creators", "abstract", "date")},
    )
    intake.update_deposit(actor=STUDENT, deposit_id=other["id"], accept_terms=True)
    with pytest.raises(InvalidInput) as error:
        intake.submit(actor=STUDENT, deposit_id=other["id"])
    assert error.value.fields == {"files": ["at least one file is needed"]}


def test_uploads_must_have_an_allowed_format(intake, storage):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata={})
    with pytest.raises(InvalidInput) as error:
        add_pdf(intake, storage, STUDENT, deposit["id"], name="thesis.docx")
    assert error.value.message.startswith(
        "Files of type .docx are not accepted here; accepted: .pdf"
    )
    assert intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])["files"] == []


def test_the_view_offers_only_the_actions_open_now(intake, storage):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    assert deposit["allowed_actions"] == ["edit", "submit", "withdraw"]
    add_pdf(intake, storage, STUDENT, deposit["id"])
    intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], accept_terms=True)
    assert intake.submit(actor=STUDENT, deposit_id=deposit["id"])["allowed_actions"] == ["withdraw"]
    assert (
        intake.get_deposit(actor={**FACULTY, "roles": ["approver"]}, deposit_id=deposit["id"])[
            "allowed_actions"
        ]
        == []
    )


def test_profile_definitions_load_defaults():
    loaded = ProfileDefinitionSchema().load(
        {
            "name": "Podcast",
            "fields": [{"key": "title", "label": "Title", "type": "text", "dc": "title"}],
            "approval": {"mode": "automatic"},
            "target_collection": "open-works",
        }
    )
    assert loaded["file_rules"]["metadata_only_allowed"] is False
    assert loaded["access"] == "open" and loaded["terms"] == ""


def test_a_profile_needing_several_files_says_how_many(intake, storage):
    intake.save_profile(
        actor=MANAGER,
        profile_id="thesis",
        definition=definition(file_rules={**DEMO_PROFILES["thesis"]["file_rules"], "min_files": 2}),
    )
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], accept_terms=True)
    for expected in (0, 1):
        with pytest.raises(InvalidInput) as error:
            intake.submit(actor=STUDENT, deposit_id=deposit["id"])
        assert error.value.fields == {"files": ["at least 2 files are needed"]}
        add_pdf(intake, storage, STUDENT, deposit["id"], name=f"part{expected}.pdf")
    assert intake.submit(actor=STUDENT, deposit_id=deposit["id"])["status"] == "submitted"


def test_a_new_version_is_used_by_new_deposits_while_pinned_ones_stay(intake, storage):
    """Pinned versions are kept in the process once read (a saved version never changes):
    a deposit keeps checking against its own version, a deposit made after an edit gets
    the new one."""
    old = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    add_pdf(intake, storage, STUDENT, old["id"])
    intake.update_deposit(actor=STUDENT, deposit_id=old["id"], accept_terms=True)  # reads v1
    extra = {"key": "supervisor", "label": "Supervisor", "type": "person", "required": True}
    intake.save_profile(
        actor=MANAGER,
        profile_id="thesis",
        definition=definition(fields=DEMO_PROFILES["thesis"]["fields"] + [extra]),
    )
    new = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    add_pdf(intake, storage, STUDENT, new["id"], name="other.pdf")
    intake.update_deposit(actor=STUDENT, deposit_id=new["id"], accept_terms=True)
    assert new["profile_version"] == 2
    with pytest.raises(InvalidInput) as error:
        intake.submit(actor=STUDENT, deposit_id=new["id"])
    assert "supervisor" in error.value.fields["metadata"]
    # version 1, read before the edit, still has no supervisor field
    assert intake.submit(actor=STUDENT, deposit_id=old["id"])["status"] == "submitted"


def test_pinned_versions_are_kept_per_database(tmp_path):
    """Two databases with a profile of the same id and version (two sites' tests in one
    process) each get their own definition."""
    names = []
    for site in ("one", "two"):
        url = f"sqlite:///{tmp_path / site}.db"
        upgrade("intake", url)
        database = Database(url, "intake")
        with database.unit_of_work() as uow:
            loaded = ProfileDefinitionSchema().load(definition(name=f"Thesis {site}"))
            save_profile(uow, MANAGER_ACTOR, "thesis", loaded, create=True)
        with database.reading() as session:
            names.append(profile_definition(session, "thesis", 1)["name"])
            names.append(profile_definition(session, "thesis", 1)["name"])  # kept, the same
        database.dispose()
    assert names == ["Thesis one", "Thesis one", "Thesis two", "Thesis two"]
