"""Inventory renders oai_openaire from what it stores: an approved deposit with its file,
and rows written before the text rule held (control characters, huge fields)."""

from datetime import UTC, date, datetime

from services.inventory.models import Item
from tests.services.test_inventory import approved, inventory  # noqa: F401 (fixture)
from tests.support.openaire_rules import NS, assert_openaire

MOMENT = datetime(2026, 2, 1, tzinfo=UTC)


def test_an_approved_deposit_harvests_as_a_valid_openaire_record_with_its_file(inventory, storage):
    inventory.on_deposit_approved(approved(storage))
    [record] = inventory.harvest(limit=5, metadata_prefix="oai_openaire")["records"]
    root = assert_openaire(record["metadata"])
    [stored] = root.xpath("oaire:file", namespaces=NS)
    assert f"/api/v1/items/{record['item_id']}/files/" in stored.text
    assert stored.get("mimeType") == "application/pdf"
    same = inventory.oai_record(identifier=record["identifier"], metadata_prefix="oai_openaire")
    assert same["metadata"] == record["metadata"]


def test_stored_control_characters_and_huge_fields_still_make_valid_xml(inventory):
    huge = "moss " * 200_000  # a megabyte of abstract
    with inventory.database.unit_of_work() as uow:
        uow.session.add(
            Item(
                id="hostile",
                identifier="ark:/99999/hostile",
                deposit_id="dep-hostile",
                revision=1,
                collection_id="theses",
                access="embargo",
                embargo_until=date(2999, 1, 1),
                record={
                    "title": ["Bell\x07 and \x00null\ufffe"],
                    "description": [huge],
                    "subject": ["\x1b[31mred"],
                    "language": ["en"],
                },
                creators=[{"name": "Ctrl\x01 Person", "orcid": None}],
                created_at=MOMENT,
                datestamp=MOMENT,
            )
        )
    record = inventory.oai_record(identifier="ark:/99999/hostile", metadata_prefix="oai_openaire")
    root = assert_openaire(record["metadata"])
    assert root.xpath("datacite:titles/datacite:title/text()", namespaces=NS) == ["Bell and null"]
    assert len(root.xpath("dc:description/text()", namespaces=NS)[0]) == len(huge)
    # no files: the record says so, whatever the item's access
    assert root.xpath("datacite:rights/@rightsURI", namespaces=NS) == [
        "http://purl.org/coar/access_right/c_14cb"
    ]
