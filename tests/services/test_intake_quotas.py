"""A patron's limits on unfinished work, and abandoned drafts: intake's workers on a real
database (SQLite and PostgreSQL), with real staging storage."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import QuotaExceeded, TooLarge
from kernel.contracts.profiles import ProfileDefinitionSchema
from kernel.platform.config import Quotas, get_settings
from kernel.platform.db import Database, utcnow
from lodge.migrations import upgrade
from services.intake import deposits, expiry
from services.intake.models import Deposit
from services.intake.seed import DEMO_PROFILES, SYSTEM_ACTOR
from tests.services.conftest import STUDENT, THESIS_METADATA, outbox
from tests.services.test_intake import add_pdf, intake, submitted_thesis  # noqa: F401

DAY = 24 * 3600


@pytest.fixture
def limits(monkeypatch):
    """Small limits, as site settings: two drafts, 100 bytes staged."""
    monkeypatch.setenv("LODGE_QUOTA_DRAFTS", "2")
    monkeypatch.setenv("LODGE_QUOTA_STAGED_BYTES", "100")
    get_settings.cache_clear()
    yield get_settings().quotas
    get_settings.cache_clear()


def draft(intake, actor=STUDENT):
    return intake.create_deposit(actor=actor, profile_id="thesis", metadata=THESIS_METADATA)


def test_a_patron_over_the_draft_limit_is_refused_until_one_is_finished(intake, limits):
    first = draft(intake)
    draft(intake)
    with pytest.raises(QuotaExceeded) as refused:
        draft(intake)
    assert refused.value.fields == {"drafts": ["2 of 2 used"]}
    draft(intake, {**STUDENT, "id": "u-student-2"})  # another patron's room is their own
    intake.withdraw(actor=STUDENT, deposit_id=first["id"], note=None)
    draft(intake)
    assert intake.quota_usage(actor=STUDENT)["drafts"] == {"used": 2, "limit": 2}


def test_staged_bytes_over_the_limit_are_refused_and_nothing_is_recorded(intake, storage, limits):
    one, other = draft(intake), draft(intake)
    add_pdf(intake, storage, STUDENT, one["id"], name="a.pdf")  # a 45-byte PDF
    add_pdf(intake, storage, STUDENT, other["id"], name="b.pdf")
    assert intake.quota_usage(actor=STUDENT)["staged_bytes"] == {"used": 90, "limit": 100}
    policy = intake.upload_policy(actor=STUDENT, deposit_id=other["id"])
    assert policy["max_file_size"] == 10
    assert policy["quota"]["staged_bytes"] == {"used": 90, "limit": 100}
    with pytest.raises(TooLarge) as refused:
        add_pdf(intake, storage, STUDENT, other["id"], name="c.pdf")
    assert refused.value.fields == {"staged_bytes": ["10 of 100 bytes left"]}
    assert [
        f["filename"] for f in intake.get_deposit(actor=STUDENT, deposit_id=other["id"])["files"]
    ] == ["b.pdf"]


def test_an_upload_is_refused_at_once_when_no_staged_room_is_left(intake, storage, monkeypatch):
    monkeypatch.setenv("LODGE_QUOTA_STAGED_BYTES", "45")
    get_settings.cache_clear()
    deposit = draft(intake)
    add_pdf(intake, storage, STUDENT, deposit["id"])
    with pytest.raises(TooLarge):
        intake.upload_policy(actor=STUDENT, deposit_id=deposit["id"])
    get_settings.cache_clear()


def test_two_transactions_at_once_cannot_both_take_the_last_draft(postgres_database):
    """On PostgreSQL, the second request waits for the first's lock and then counts its draft:
    without the lock it would count only what was committed and pass too."""
    url = postgres_database("intake")
    upgrade("intake", url)
    database = Database(url, "intake")
    quotas = Quotas(drafts=1)
    with database.unit_of_work() as uow:
        deposits.save_profile(
            uow,
            SYSTEM_ACTOR,
            "thesis",
            ProfileDefinitionSchema().load(DEMO_PROFILES["thesis"]),
            create=True,
        )
    try:
        with database.unit_of_work() as first:
            deposits.create_deposit(first, Actor.from_wire(STUDENT), "thesis", {}, None, quotas)
            with database.unit_of_work() as second:
                second.session.execute(text("SET LOCAL lock_timeout = '300ms'"))
                with pytest.raises(Exception, match="lock timeout"):
                    deposits.create_deposit(
                        second, Actor.from_wire(STUDENT), "thesis", {}, None, quotas
                    )
        with database.unit_of_work() as third, pytest.raises(QuotaExceeded):
            deposits.create_deposit(third, Actor.from_wire(STUDENT), "thesis", {}, None, quotas)
        with database.reading() as session:
            assert len(session.scalars(select(Deposit)).all()) == 1
    finally:
        database.dispose()


# --- abandoned drafts --------------------------------------------------------------------

QUOTAS = Quotas(draft_expiry_seconds=180 * DAY, draft_warning_seconds=14 * DAY)


def untouched_for(intake, deposit_id, days):
    with intake.database.unit_of_work() as uow:
        uow.session.execute(
            update(Deposit)
            .where(Deposit.id == deposit_id)
            .values(updated_at=utcnow() - timedelta(days=days))
        )


def run_expiry(intake, now):
    with intake.database.unit_of_work() as uow:
        warned = expiry.warn_untouched(uow, now, QUOTAS)
    with intake.database.unit_of_work() as uow:
        removed, keys = expiry.remove_abandoned(uow, now, QUOTAS)
    for key in keys:
        intake.storage.delete(key)
    return warned, removed


def test_an_untouched_draft_is_warned_then_removed_with_its_files(intake, storage):
    deposit = draft(intake)
    add_pdf(intake, storage, STUDENT, deposit["id"])
    key = f"staging/{deposit['id']}/thesis-pdf"  # where add_pdf staged it
    untouched_for(intake, deposit["id"], 170)
    now = utcnow()
    assert run_expiry(intake, now) == (1, 0)
    [warning] = outbox(intake.database, "draft_expiring")
    assert warning["deposit_id"] == deposit["id"]
    assert warning["depositor"]["email"] == STUDENT["email"]
    assert run_expiry(intake, now) == (0, 0)  # warned once
    assert storage.exists(key)

    assert run_expiry(intake, now + timedelta(days=13)) == (0, 0)
    assert run_expiry(intake, now + timedelta(days=14, seconds=1)) == (0, 1)
    gone = intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])
    assert gone["status"] == "withdrawn" and gone["files"] == []
    assert not storage.exists(key)
    last = gone["history"][-1]
    assert (last["from_status"], last["to_status"], last["reason_code"], last["actor"]["id"]) == (
        "draft",
        "withdrawn",
        "draft_expired",
        "system",
    )
    [changed] = [
        e
        for e in outbox(intake.database, "deposit_status_changed")
        if e["to_status"] == "withdrawn"
    ]
    assert changed["reason_code"] == "draft_expired"


def test_a_draft_touched_after_the_warning_is_kept(intake, storage):
    deposit = draft(intake)
    untouched_for(intake, deposit["id"], 170)
    now = utcnow()
    run_expiry(intake, now)
    intake.update_deposit(actor=STUDENT, deposit_id=deposit["id"], metadata=THESIS_METADATA)
    assert run_expiry(intake, now + timedelta(days=20)) == (0, 0)
    assert intake.get_deposit(actor=STUDENT, deposit_id=deposit["id"])["status"] == "draft"


def test_removal_waits_the_whole_notice_after_a_late_warning(intake):
    """A timer that was down: the draft is past its age, but the depositor still gets the
    full notice after the warning."""
    deposit = draft(intake)
    untouched_for(intake, deposit["id"], 400)
    now = utcnow()
    assert run_expiry(intake, now) == (1, 0)
    [warning] = outbox(intake.database, "draft_expiring")
    assert warning["expires_at"].startswith((now + timedelta(days=14)).date().isoformat())
    assert run_expiry(intake, now + timedelta(days=13)) == (0, 0)
    assert run_expiry(intake, now + timedelta(days=14, seconds=1)) == (0, 1)


def test_deposits_past_drafting_never_expire(intake, storage):
    deposit = submitted_thesis(intake, storage)
    untouched_for(intake, deposit["id"], 400)
    now = utcnow()
    assert run_expiry(intake, now) == (0, 0)
    assert run_expiry(intake, now + timedelta(days=30)) == (0, 0)
