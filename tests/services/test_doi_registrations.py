"""DOIs on SQLite and PostgreSQL against the local DataCite (tests/support/datacite.py):
minted with the item, registered by the handler of inventory's own message, retried on
failure, kept in step on withdrawal; a misbehaving DataCite never breaks inventory."""

import time

import pytest
from datacite import schema45

from kernel.contracts.events import event_schema
from kernel.contracts.exceptions import Forbidden, NotFound, RefusedMessage
from services.inventory.dois import DataCiteError
from tests.services.conftest import MANAGER, STAFF, STUDENT, outbox
from tests.services.test_inventory_publication import MOSS, deposit_item, inventory  # noqa: F401


@pytest.fixture
def doi_env(lodge_env, datacite):
    from kernel.platform.config import get_settings

    for name, value in datacite.env().items():
        lodge_env.setenv(name, value)
    get_settings.cache_clear()
    return datacite


def sync_requests(inventory, doi=None):
    """The doi_sync_requested messages inventory wrote to itself, as its handler gets them."""
    schema = event_schema("inventory", "doi_sync_requested")
    return [
        schema.load(payload)
        for payload in outbox(inventory.database, "doi_sync_requested")
        if doi is None or payload["doi"] == doi
    ]


def own_request(inventory, item_id):
    """The request to sync the item's own DOI (beside its work's concept DOI's)."""
    [request] = sync_requests(inventory, inventory.get_item(item_id=item_id)["doi"])
    return request


def registration(inventory, item_id, kind="version"):
    [row] = [
        row
        for row in inventory.doi_registrations(actor=STAFF, item_id=item_id)
        if row["kind"] == kind
    ]
    return row


def test_an_item_is_archived_with_its_doi_reserved_then_registered(inventory, storage, doi_env):
    item_id = deposit_item(inventory, storage, 1, MOSS)
    item = inventory.get_item(item_id=item_id)
    doi = item["doi"]
    assert doi == f"{doi_env.prefix}/{item_id[:16]}"  # from the item: a retry mints it again
    [created] = outbox(inventory.database, "item_created")
    assert created["doi"] == doi  # letters and campus systems hear of it at once
    assert registration(inventory, item_id)["state"] == "reserved"
    assert doi_env.get(doi) is None  # nothing was sent to DataCite while archiving

    request = own_request(inventory, item_id)
    inventory.on_doi_sync_requested(request)

    registered = doi_env.get(doi)
    assert registered["state"] == "findable"
    assert registered["url"].endswith(f"/items/{item_id}")
    assert schema45.validate({k: v for k, v in registered.items() if k != "state"})
    assert registered["creators"][0]["nameIdentifiers"][0]["nameIdentifier"] == (
        "https://orcid.org/0000-0002-1825-0097"
    )
    row = registration(inventory, item_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("registered", 1, None)
    assert inventory.datacite_metadata(item_id=item_id)["doi"] == doi


def test_a_failed_registration_is_recorded_and_raised_so_it_retries(inventory, storage, doi_env):
    item_id = deposit_item(inventory, storage, 2, MOSS)
    request = own_request(inventory, item_id)
    doi_env.misbehave("fail")
    with pytest.raises(DataCiteError, match="answered 500: Internal server error"):
        inventory.on_doi_sync_requested(request)
    row = registration(inventory, item_id)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert "500" in row["last_error"]
    assert inventory.get_item(item_id=item_id)["withdrawn_at"] is None  # archived all the same

    doi_env.misbehave("ok")
    inventory.on_doi_sync_requested(request)  # the retry, from the delay queue
    row = registration(inventory, item_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("registered", 2, None)


def test_sync_is_idempotent_and_follows_withdrawal(inventory, storage, doi_env):
    item_id = deposit_item(inventory, storage, 3, MOSS)
    request = own_request(inventory, item_id)
    inventory.on_doi_sync_requested(request)
    inventory.on_doi_sync_requested(request)  # delivered twice: the same PUT, no harm
    doi = request["doi"]
    assert [r["status"] for r in doi_env.requests_seen() if r["doi"] == doi] == [201, 200]

    inventory.withdraw_item(actor=MANAGER, item_id=item_id, reason="Duplicate")
    [_, hide] = sync_requests(inventory, doi)
    inventory.on_doi_sync_requested(hide)
    hidden = doi_env.get(doi)
    # still resolves, to the landing page (which shows the tombstone), but out of search
    assert hidden["state"] == "registered"
    assert hidden["url"].endswith(f"/items/{item_id}")
    assert {"date": hidden["dates"][-1]["date"], "dateType": "Withdrawn"} in hidden["dates"]


def test_a_manager_may_ask_again_for_a_registration(inventory, storage, doi_env):
    item_id = deposit_item(inventory, storage, 4, MOSS)
    doi = inventory.get_item(item_id=item_id)["doi"]
    with pytest.raises(Forbidden):
        inventory.retry_doi(actor=STUDENT, doi=doi)
    with pytest.raises(Forbidden):
        inventory.retry_doi(actor=STAFF, doi=doi)
    with pytest.raises(NotFound):
        inventory.retry_doi(actor=MANAGER, doi="10.80000/nothing")
    assert inventory.retry_doi(actor=MANAGER, doi=doi)["doi"] == doi
    assert len(sync_requests(inventory, doi)) == 2
    with pytest.raises(Forbidden):
        inventory.doi_registrations(actor=STUDENT, item_id=item_id)


@pytest.mark.parametrize(
    ("mode", "delay", "expected"),
    [
        ("garbage", 0, "without the DOI"),
        ("nested", 0, "without the DOI"),
        ("oversize", 0, "over 1048576 bytes"),
        ("slow", 30, "could not be reached: ReadTimeout"),
        ("drip", 0.2, "did not arrive in time"),
    ],
)
def test_a_misbehaving_datacite_costs_bounded_time_and_never_breaks_inventory(
    inventory, storage, doi_env, mode, delay, expected
):
    item_id = deposit_item(inventory, storage, 5, MOSS)
    request = own_request(inventory, item_id)
    doi_env.misbehave(mode, delay)
    started = time.monotonic()
    with pytest.raises(DataCiteError, match=expected):
        inventory.on_doi_sync_requested(request)
    assert time.monotonic() - started < 6  # LODGE_DATACITE_TIMEOUT is 2 s
    row = registration(inventory, item_id)
    assert row["state"] == "failed" and len(row["last_error"]) <= 500
    assert row["last_error"].isprintable()


def test_datacite_down_is_a_failure_like_any_other(inventory, storage, doi_env):
    item_id = deposit_item(inventory, storage, 6, MOSS)
    request = own_request(inventory, item_id)
    doi_env.stop()
    with pytest.raises(DataCiteError, match="could not be reached: ConnectionError"):
        inventory.on_doi_sync_requested(request)
    assert registration(inventory, item_id)["state"] == "failed"


def test_without_datacite_items_get_no_doi(inventory, storage, lodge_env):
    item_id = deposit_item(inventory, storage, 7, MOSS)
    assert inventory.get_item(item_id=item_id)["doi"] is None
    assert inventory.doi_registrations(actor=STAFF, item_id=item_id) == []
    assert sync_requests(inventory) == []
    inventory.withdraw_item(actor=MANAGER, item_id=item_id, reason="Duplicate")
    assert sync_requests(inventory) == []
    # the DataCite metadata is there all the same, without a DOI (for content negotiation)
    assert "doi" not in inventory.datacite_metadata(item_id=item_id)


def test_a_sync_request_while_datacite_is_off_is_refused(inventory, storage, doi_env, lodge_env):
    from kernel.platform.config import get_settings

    item_id = deposit_item(inventory, storage, 8, MOSS)
    request = own_request(inventory, item_id)
    lodge_env.setenv("LODGE_DATACITE_ENABLED", "false")
    get_settings.cache_clear()
    with pytest.raises(RefusedMessage, match="DataCite is off"):
        inventory.on_doi_sync_requested(request)


def test_an_embargo_ending_sends_datacite_the_open_access_rights(inventory, storage, doi_env):
    from datetime import date, timedelta

    ended = {"policy": "embargo", "embargo_until": (date.today() - timedelta(days=1)).isoformat()}
    item_id = deposit_item(inventory, storage, 9, MOSS, access=ended)
    registration_request = own_request(inventory, item_id)
    inventory.on_doi_sync_requested(registration_request)
    doi = registration_request["doi"]
    assert doi_env.get(doi)["rightsList"][0]["rights"] == "embargoed access"

    inventory.lift_embargoes()
    [_, after_lifting] = sync_requests(inventory, doi)
    inventory.on_doi_sync_requested(after_lifting)
    assert doi_env.get(doi)["rightsList"][0]["rights"] == "open access"
    assert registration(inventory, item_id)["attempts"] == 2


def test_a_new_version_and_a_correction_re_sync_the_dois_they_change(inventory, storage, doi_env):
    from tests.services.test_item_versions import archive, corrected

    first = archive(inventory, storage, "v1")
    second = archive(inventory, storage, "v2", new_version_of=first["id"])
    # the first version's DOI is synced again: it gains IsPreviousVersionOf the second
    for request in sync_requests(inventory):
        inventory.on_doi_sync_requested(request)
    assert len(sync_requests(inventory, first["doi"])) == 2
    older = doi_env.get(first["doi"])
    assert {
        "relatedIdentifier": second["doi"],
        "relatedIdentifierType": "DOI",
        "relationType": "IsPreviousVersionOf",
    } in older["relatedIdentifiers"]
    newer = doi_env.get(second["doi"])
    assert {
        "relatedIdentifier": first["doi"],
        "relatedIdentifierType": "DOI",
        "relationType": "IsNewVersionOf",
    } in newer["relatedIdentifiers"]

    record = {k: v for k, v in second["record"].items() if k != "creator"}
    corrected(inventory, second, record={**record, "title": ["On Moss, corrected"]})
    [*_, after_correction] = sync_requests(inventory, second["doi"])
    inventory.on_doi_sync_requested(after_correction)
    assert doi_env.get(second["doi"])["titles"] == [{"title": "On Moss, corrected"}]


def sync_all(inventory):
    """Every sync message inventory wrote, handled again (each PUT is idempotent)."""
    for request in sync_requests(inventory):
        inventory.on_doi_sync_requested(request)


def test_a_work_has_one_concept_doi_for_its_latest_version(inventory, storage, doi_env):
    from tests.services.test_item_versions import archive

    first = archive(inventory, storage, "w1", title="On Moss")
    concept = first["concept_doi"]
    assert concept == f"{doi_env.prefix}/{first['concept_id'][:16]}"
    assert concept != first["doi"]
    assert registration(inventory, first["id"], "concept")["state"] == "reserved"
    sync_all(inventory)
    registered = doi_env.get(concept)
    assert registered["state"] == "findable"
    assert registered["url"].endswith(f"/id/{first['concept_identifier']}")
    assert schema45.validate({k: v for k, v in registered.items() if k != "state"})

    second = archive(inventory, storage, "w2", new_version_of=first["id"], title="On Moss, 2")
    assert second["concept_doi"] == concept  # one for the work, not one more
    sync_all(inventory)
    work = doi_env.get(concept)
    assert work["titles"] == [{"title": "On Moss, 2"}]  # the latest version's metadata
    assert [(r["relationType"], r["relatedIdentifier"]) for r in work["relatedIdentifiers"]] == [
        ("HasVersion", first["doi"]),
        ("HasVersion", second["doi"]),
    ]
    older = doi_env.get(first["doi"])["relatedIdentifiers"]
    assert {
        "relatedIdentifier": second["doi"],
        "relatedIdentifierType": "DOI",
        "relationType": "IsPreviousVersionOf",
    } in older
    assert {
        "relatedIdentifier": concept,
        "relatedIdentifierType": "DOI",
        "relationType": "IsVersionOf",
    } in older
    # staff see the work's DOI from every version; it resolves to the latest
    assert registration(inventory, first["id"], "concept")["item_id"] == second["id"]

    inventory.withdraw_item(actor=MANAGER, item_id=second["id"], reason="Duplicate")
    sync_all(inventory)
    back = doi_env.get(concept)
    assert (back["state"], back["titles"]) == ("findable", [{"title": "On Moss"}])
    assert registration(inventory, first["id"], "concept")["item_id"] == first["id"]

    inventory.withdraw_item(actor=MANAGER, item_id=first["id"], reason="Duplicate")
    sync_all(inventory)
    assert doi_env.get(concept)["state"] == "registered"  # every version gone: hidden


def test_a_work_from_before_gets_its_concept_doi_when_a_version_is_synced(
    inventory, storage, doi_env
):
    from sqlalchemy import delete

    from services.inventory.models import DoiRegistration

    item_id = deposit_item(inventory, storage, 10, MOSS)
    with inventory.database.unit_of_work() as uow:  # as items archived before concept DOIs
        uow.session.execute(delete(DoiRegistration).where(DoiRegistration.kind == "concept"))
    assert inventory.get_item(item_id=item_id)["concept_doi"] is None
    inventory.on_doi_sync_requested(own_request(inventory, item_id))
    item = inventory.get_item(item_id=item_id)
    concept = item["concept_doi"]
    assert concept == f"{doi_env.prefix}/{item['concept_id'][:16]}"
    assert {
        "relatedIdentifier": concept,
        "relatedIdentifierType": "DOI",
        "relationType": "IsVersionOf",
    } in doi_env.get(item["doi"])["relatedIdentifiers"]
    # the same DOI its reservation would have minted (the deleted row's message is there too)
    [*_, adopted] = sync_requests(inventory, concept)
    inventory.on_doi_sync_requested(adopted)
    assert doi_env.get(concept)["state"] == "findable"
    # the work's versions are synced again, to name the work by it; no second concept DOI
    [_, again] = sync_requests(inventory, item["doi"])
    inventory.on_doi_sync_requested(again)
    assert [r["kind"] for r in inventory.doi_registrations(actor=STAFF, item_id=item_id)] == [
        "version",
        "concept",
    ]
