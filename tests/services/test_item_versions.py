"""New versions of archived items and corrections of their metadata, on real workers and
databases: inventory numbers the versions of a work and relates them, resolves the work to
its latest version, keeps every correction; intake starts a new version as a prefilled draft
for its depositor or staff only."""

import pytest
from lxml import etree

from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput, NotFound, RefusedMessage
from kernel.platform.config import get_settings
from services.inventory.models import Item
from tests.services.conftest import (
    FACULTY,
    MANAGER,
    STAFF,
    STUDENT,
    THESIS_METADATA,
    outbox,
)
from tests.services.test_intake import add_pdf, intake  # noqa: F401 (fixture)
from tests.services.test_inventory import approved, inventory  # noqa: F401 (fixture)

OAI_DC_NS = {"dc": "http://purl.org/dc/elements/1.1/"}
DATACITE_NS = {"d": "http://datacite.org/schema/kernel-4"}


def archive(inventory, storage, deposit_id, new_version_of=None, title="On Moss"):
    """An approved deposit of its own (its own file), made an item; the item's view."""
    event = approved(storage, key=f"staging/{deposit_id}/f1")
    event["deposit_id"] = event["deposit"]["id"] = deposit_id
    event["deposit"]["files"][0]["id"] = f"{deposit_id}-f1"
    event["deposit"]["metadata"]["title"] = title
    event["deposit"]["new_version_of"] = new_version_of
    inventory.on_deposit_approved(event)
    [created] = [
        e for e in outbox(inventory.database, "item_created") if e["deposit_id"] == deposit_id
    ]
    return inventory.get_item(item_id=created["item_id"])


def datestamp(inventory, item_id):
    with inventory.database.reading() as session:
        return session.get(Item, item_id).datestamp


def test_an_item_is_version_1_of_a_work_whose_identifier_is_not_its_own(inventory, storage):
    first = archive(inventory, storage, "d1")
    assert first["version"] == 1 and first["concept_id"] != first["id"]
    assert first["concept_identifier"].startswith("ark:/99999/")
    assert first["concept_identifier"] != first["identifier"]
    assert [v["item_id"] for v in first["versions"]] == [first["id"]]
    assert first["relations"] == [
        {
            "relation_type": "IsVersionOf",
            "identifier": first["concept_identifier"],
            "identifier_type": "ARK",
        }
    ]


def test_a_new_version_joins_the_work_and_relates_both_ways(inventory, storage):
    first = archive(inventory, storage, "d1")
    before = datestamp(inventory, first["id"])
    second = archive(inventory, storage, "d2", new_version_of=first["id"], title="On Moss, again")
    first = inventory.get_item(item_id=first["id"])
    assert second["version"] == 2
    assert second["concept_id"] == first["concept_id"]
    assert second["concept_identifier"] == first["concept_identifier"]
    assert [(v["version"], v["item_id"]) for v in second["versions"]] == [
        (1, first["id"]),
        (2, second["id"]),
    ]
    assert first["versions"] == second["versions"]
    concept = {"identifier": first["concept_identifier"], "identifier_type": "ARK"}
    assert second["relations"] == [
        {
            "relation_type": "IsNewVersionOf",
            "identifier": first["identifier"],
            "identifier_type": "ARK",
        },
        {"relation_type": "IsVersionOf", **concept},
    ]
    assert first["relations"] == [
        {
            "relation_type": "IsPreviousVersionOf",
            "identifier": second["identifier"],
            "identifier_type": "ARK",
        },
        {"relation_type": "IsVersionOf", **concept},
    ]
    # the first version's relations changed: harvesters must fetch it again
    assert datestamp(inventory, first["id"]) >= before
    assert datestamp(inventory, first["id"]) == datestamp(inventory, second["id"])


def test_a_version_with_a_doi_is_related_by_its_doi(inventory, storage):
    first = archive(inventory, storage, "d1")
    with inventory.database.unit_of_work() as uow:
        uow.session.get(Item, first["id"]).doi = "10.5555/moss.1"
    second = archive(inventory, storage, "d2", new_version_of=first["id"])
    assert second["relations"][0] == {
        "relation_type": "IsNewVersionOf",
        "identifier": "10.5555/moss.1",
        "identifier_type": "DOI",
    }


def test_the_work_resolves_to_its_latest_version_past_withdrawn_ones(inventory, storage):
    first = archive(inventory, storage, "d1")
    second = archive(inventory, storage, "d2", new_version_of=first["id"])
    third = archive(inventory, storage, "d3", new_version_of=first["id"])
    assert third["version"] == 3  # the next number of the work, whichever version it follows
    concept = first["concept_identifier"]
    assert inventory.resolve_identifier(identifier=concept)["item_id"] == third["id"]
    assert inventory.resolve_identifier(identifier=first["identifier"])["item_id"] == first["id"]
    inventory.withdraw_item(actor=MANAGER, item_id=third["id"], reason="Wrong file")
    assert inventory.resolve_identifier(identifier=concept)["item_id"] == second["id"]
    withdrawn = inventory.get_item(item_id=third["id"])
    assert [v["withdrawn_at"] is not None for v in withdrawn["versions"]] == [False, False, True]
    for item in (first, second):
        inventory.withdraw_item(actor=MANAGER, item_id=item["id"], reason="Gone")
    # every version withdrawn: the latest one's tombstone
    assert inventory.resolve_identifier(identifier=concept)["item_id"] == third["id"]
    with pytest.raises(NotFound):
        inventory.resolve_identifier(identifier="ark:/99999/lodge-0000000000000000")


def test_a_new_version_of_an_unknown_item_is_refused(inventory, storage):
    with pytest.raises(RefusedMessage, match="unknown here"):
        archive(inventory, storage, "d1", new_version_of="no-such-item")


def test_oai_records_carry_the_relations(inventory, storage):
    first = archive(inventory, storage, "d1")
    second = archive(inventory, storage, "d2", new_version_of=first["id"])
    record = inventory.oai_record(identifier=first["identifier"], metadata_prefix="oai_dc")
    relations = etree.fromstring(record["metadata"]).xpath(
        "dc:relation/text()", namespaces=OAI_DC_NS
    )
    base = get_settings().site.base_url
    assert relations == [
        f"{base}/id/{second['identifier']}",
        f"{base}/id/{first['concept_identifier']}",
    ]
    page = inventory.harvest(
        metadata_prefix="datacite", since=None, until=None, set_spec=None, limit=10
    )
    by_id = {r["item_id"]: etree.fromstring(r["metadata"]) for r in page["records"]}
    related = by_id[second["id"]].xpath(
        "d:relatedIdentifiers/d:relatedIdentifier", namespaces=DATACITE_NS
    )
    assert [(r.get("relationType"), r.get("relatedIdentifierType"), r.text) for r in related] == [
        ("IsNewVersionOf", "ARK", first["identifier"]),
        ("IsVersionOf", "ARK", first["concept_identifier"]),
    ]


# --- corrections -----------------------------------------------------------------------


def corrected(inventory, item, actor=MANAGER, **changes):
    request = {
        "record": {k: v for k, v in item["record"].items() if k != "creator"},
        "creators": item["creators"],
        "reason": "Typo in the title",
        **changes,
    }
    return inventory.correct_item(actor=actor, item_id=item["id"], **request)


def test_a_manager_corrects_an_item_and_the_history_keeps_before_and_after(inventory, storage):
    item = archive(inventory, storage, "d1")
    before = datestamp(inventory, item["id"])
    fixed = corrected(
        inventory,
        item,
        record={"title": ["On Mosses"], "subject": ["bryophytes"]},
        creators=[{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}],
    )
    assert fixed["record"] == {
        "title": ["On Mosses"],
        "subject": ["bryophytes"],
        "creator": ["Sam Student"],
    }
    assert fixed["creators"] == [{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}]
    [entry] = inventory.item_corrections(actor=STAFF, item_id=item["id"])
    assert entry["actor"]["id"] == MANAGER["id"] and entry["reason"] == "Typo in the title"
    assert entry["changes"] == [
        {"element": "title", "before": ["On Moss"], "after": ["On Mosses"]},
        {"element": "subject", "before": [], "after": ["bryophytes"]},
        {
            "element": "creators",
            "before": ["Sam Student"],
            "after": ["Sam Student (ORCID 0000-0002-1825-0097)"],
        },
    ]
    assert datestamp(inventory, item["id"]) >= before
    [event] = outbox(inventory.database, "item_corrected")
    assert event["elements"] == ["title", "subject", "creators"]
    assert event["item_id"] == item["id"] and event["reason"] == "Typo in the title"
    # the search index follows
    found = inventory.search_items(query="mosses", year=None, collection=None, page=1, per_page=5)
    assert [i["id"] for i in found["items"]] == [item["id"]]


@pytest.mark.parametrize("actor", [STUDENT, STAFF, FACULTY])
def test_only_managers_correct(inventory, storage, actor):
    item = archive(inventory, storage, "d1")
    with pytest.raises(Forbidden):
        corrected(inventory, item, actor=actor, record={"title": ["Mine now"]})
    assert inventory.get_item(item_id=item["id"])["record"]["title"] == ["On Moss"]


def test_corrections_history_is_for_staff(inventory, storage):
    item = archive(inventory, storage, "d1")
    with pytest.raises(Forbidden):
        inventory.item_corrections(actor=STUDENT, item_id=item["id"])
    assert inventory.item_corrections(actor=STAFF, item_id=item["id"]) == []


@pytest.mark.parametrize(
    "changes,field",
    [
        ({}, "record"),  # nothing changes
        ({"record": {"subject": ["moss"]}}, "record"),  # no title left
        ({"record": {"title": ["T"], "creator": ["Someone"]}}, "record"),
        ({"record": {"title": ["  "]}}, "record"),
        ({"record": {"title": ["T"], "nonsense": ["x"]}}, "record"),
        ({"record": {"title": ["T\x00"]}}, "record"),
        ({"record": {"title": "not a list"}}, "record"),
        ({"record": {"title": ["T" * 50001]}}, "record"),
        ({"record": {"title": ["T"] * 101}}, "record"),
        ({"record": {"title": [{"deep": {"er": [1]}}]}}, "record"),
        ({"creators": [{"name": "A", "orcid": "javascript:x"}]}, "creators"),
        ({"creators": [{"name": ""}]}, "creators"),
        ({"creators": [{"name": "   "}]}, "creators"),
        ({"creators": [{"name": "A", "admin": True}]}, "creators"),
        ({"reason": ""}, "reason"),
        ({"reason": "\u202e evil"}, "reason"),
    ],
)
def test_hostile_or_empty_corrections_are_refused_with_the_field(
    inventory, storage, changes, field
):
    item = archive(inventory, storage, "d1")
    with pytest.raises(InvalidInput) as refused:
        corrected(inventory, item, **changes)
    assert field in refused.value.fields
    assert inventory.item_corrections(actor=STAFF, item_id=item["id"]) == []


def test_a_withdrawn_or_unknown_item_cannot_be_corrected(inventory, storage):
    item = archive(inventory, storage, "d1")
    inventory.withdraw_item(actor=MANAGER, item_id=item["id"], reason="Gone")
    with pytest.raises(Conflict):
        corrected(inventory, item, record={"title": ["New"]})
    with pytest.raises(NotFound):
        inventory.correct_item(
            actor=MANAGER, item_id="nope", record={"title": ["x"]}, creators=[], reason="r"
        )


# --- starting a new version (intake) -----------------------------------------------------


def archived_item(intake, deposit_id, withdrawn_at=None):
    """What inventory answers for the item made of `deposit_id`."""
    return {
        "id": "item-1",
        "identifier": "ark:/99999/lodge-item1",
        "deposit_id": deposit_id,
        "concept_id": "work-1",
        "concept_identifier": "ark:/99999/lodge-work1",
        "version": 1,
        "withdrawn_at": withdrawn_at,
    }


@pytest.fixture
def students_item(intake):
    deposit = intake.create_deposit(actor=STUDENT, profile_id="thesis", metadata=THESIS_METADATA)
    intake.inventory.get_item.return_value = archived_item(intake, deposit["id"])
    return deposit


def test_the_depositor_starts_a_new_version_prefilled_from_the_deposit(
    intake, storage, students_item
):
    draft = intake.start_new_version(actor=STUDENT, item_id="item-1")
    intake.inventory.get_item.assert_called_with(item_id="item-1")
    assert draft["status"] == "draft" and draft["id"] != students_item["id"]
    assert draft["new_version_of"] == "item-1"
    assert draft["metadata"] == THESIS_METADATA and draft["files"] == []
    assert draft["depositor"]["id"] == STUDENT["id"]
    assert draft["profile_id"] == "thesis"
    # submitted, it carries the item it is a new version of to the next steps
    add_pdf(intake, storage, STUDENT, draft["id"])
    intake.update_deposit(actor=STUDENT, deposit_id=draft["id"], accept_terms=True)
    intake.submit(actor=STUDENT, deposit_id=draft["id"])
    [submitted] = outbox(intake.database, "deposit_submitted")
    assert submitted["deposit"]["new_version_of"] == "item-1"


def test_one_new_version_of_a_work_at_a_time_per_person(intake, students_item):
    draft = intake.start_new_version(actor=STUDENT, item_id="item-1")
    with pytest.raises(Conflict) as refused:
        intake.start_new_version(actor=STUDENT, item_id="item-1")
    assert refused.value.fields == {"deposit_id": [draft["id"]]}
    assert draft["id"] in refused.value.message
    # staff may start their own meanwhile; once the draft is withdrawn, so may the student
    assert intake.start_new_version(actor=STAFF, item_id="item-1")["depositor"]["id"] == STAFF["id"]
    intake.withdraw(actor=STUDENT, deposit_id=draft["id"], note=None)
    assert intake.start_new_version(actor=STUDENT, item_id="item-1")["new_version_of"] == "item-1"


@pytest.mark.parametrize("stranger", [FACULTY, {**STUDENT, "id": "u-other", "username": "other"}])
def test_a_stranger_cannot_start_a_new_version(intake, students_item, stranger):
    with pytest.raises(Forbidden):
        intake.start_new_version(actor=stranger, item_id="item-1")


def test_no_new_version_of_a_withdrawn_item(intake, students_item):
    intake.inventory.get_item.return_value = archived_item(
        intake, students_item["id"], withdrawn_at="2026-12-01T00:00:00+00:00"
    )
    with pytest.raises(Conflict, match="withdrawn"):
        intake.start_new_version(actor=STUDENT, item_id="item-1")


def test_an_unknown_item_or_a_foreign_deposit_is_not_found(intake):
    intake.inventory.get_item.side_effect = NotFound("There is no such item.")
    with pytest.raises(NotFound):
        intake.start_new_version(actor=STUDENT, item_id="nope")
    intake.inventory.get_item.side_effect = None
    intake.inventory.get_item.return_value = archived_item(intake, "deposit-elsewhere")
    with pytest.raises(NotFound):
        intake.start_new_version(actor=STUDENT, item_id="item-1")


@pytest.mark.parametrize("item_id", ["", "x" * 65, 7, None, ["a"], {"a": 1}])
def test_hostile_item_ids_are_refused(intake, item_id):
    with pytest.raises(InvalidInput):
        intake.start_new_version(actor=STUDENT, item_id=item_id)
    intake.inventory.get_item.assert_not_called()
