"""Preservation export, in pieces: names that stay inside a bag, bag-info.txt with the version
chain, and PREMIS 3 checked for its structure (the PREMIS XSD is not vendored, see
tests/data/xsd/README.md)."""

from datetime import UTC, datetime

import pytest
from lxml import etree

from kernel.platform.config import SettingsError, load_settings
from services.inventory import bags
from services.inventory.models import FileEvent, Item, ItemFile, Representation

P = {"premis": bags.PREMIS}
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..",
        ".hidden",
        "a/b\\c",
        "tab\there\nnewline\r\x00nul\x1b[31m",
        "/absolute",
        "x" * 5000 + ".pdf",
        "ünïcödé – \u202egpj.exe",
        "",
        "   ",
    ],
)
def test_a_payload_name_never_leaves_the_bag_folder(name):
    [made] = bags.payload_names([name])
    assert made and len(made) <= bags.MAX_NAME
    assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in made)
    assert not made.startswith(".") and made not in (".", "..")


def test_payload_names_keep_the_extension_of_a_long_name_and_stay_distinct():
    names = bags.payload_names(["x" * 300 + ".pdf", "Data.csv", "data.CSV", "data.csv", "a/b.csv"])
    assert names[0].endswith(".pdf") and len(names[0]) == bags.MAX_NAME
    assert names[1:] == ["Data.csv", "data-2.CSV", "data-3.csv", "a_b.csv"]


def test_a_bag_is_named_by_its_identifier_made_safe():
    assert bags.bag_name("ark:/99999/lodge-abc") == "ark_99999_lodge-abc"
    assert bags.bag_name("../../x") == "x"
    assert bags.bag_name("/") == "item"


def snap(**view) -> dict:
    base = {
        "record": {"title": ["On Moss\nForged-Field: yes"]},
        "doi": None,
        "withdrawn_at": None,
        "withdrawal_reason": None,
    }
    return {
        "identifier": "ark:/99999/lodge-abc",
        "repository_name": "Lodge University",
        "view": {**base, **view},
        "withdrawn": view.get("withdrawn_at") is not None,
    }


def fields(text: str) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in text.splitlines()]  # type: ignore[misc]


def test_bag_info_names_the_source_the_item_and_the_payload():
    info = fields(bags.bag_info(snap(doi="10.1234/moss"), "1234.2", "2026-11-30"))
    assert info == [
        ("Source-Organization", "Lodge University"),
        ("External-Identifier", "ark:/99999/lodge-abc"),
        ("External-Identifier", "doi:10.1234/moss"),
        # a line break in a title never starts a field of its own
        ("External-Description", "On Moss Forged-Field: yes"),
        ("Bagging-Date", "2026-11-30"),
        ("Payload-Oxum", "1234.2"),
    ]


def test_bag_info_carries_the_version_chain_when_the_item_has_one():
    versions = [
        {"item_id": "a", "identifier": "ark:/1/a", "version": 1, "doi": "10.1/a.v1",
         "created_at": "2026-01-01T00:00:00+00:00", "withdrawn_at": "2026-02-01T00:00:00+00:00"},
        {"item_id": "b", "identifier": "ark:/1/b", "version": 2, "doi": None,
         "created_at": "2026-03-01T00:00:00+00:00", "withdrawn_at": None},
    ]  # fmt: skip
    info = fields(
        bags.bag_info(
            snap(concept_identifier="ark:/1/concept", version=2, versions=versions),
            "0.1",
            "2026-11-30",
        )
    )
    assert ("Is-Version-Of", "ark:/1/concept") in info
    assert ("Version", "2") in info
    assert [value for label, value in info if label == "Has-Version"] == [
        "version 1 ark:/1/a doi:10.1/a.v1 withdrawn 2026-02-01T00:00:00+00:00",
        "version 2 ark:/1/b",
    ]


def item(withdrawn: bool = False) -> Item:
    moss = ItemFile(
        id="f1",
        filename="../moss\x07.pdf",
        size=3,
        sha256="a" * 64,
        media_type="application/pdf",
        storage_key="permanent/d1/f1",
    )
    moss.events = [
        FileEvent(id=1, event_type="replication", outcome="success", detail="copied",
                  agent="Lodge inventory", at=AT),
        FileEvent(id=2, event_type="fixity check", outcome="failure", detail="mismatch",
                  agent="Lodge inventory", at=AT),
    ]  # fmt: skip
    return Item(
        id="i1",
        identifier="ark:/99999/lodge-i1",
        doi="10.1234/moss",
        withdrawn_at=AT if withdrawn else None,
        withdrawal_reason="Duplicate" if withdrawn else None,
        representations=[Representation(id="r1", usage="master", label="x", files=[moss])],
    )


def premis_of(item: Item) -> etree._Element:
    return etree.fromstring(bags.premis(item, bags.payload_names(["../moss\x07.pdf"])))


def text(element: etree._Element, path: str) -> list[str]:
    return [found.text for found in element.xpath(path, namespaces=P)]


def test_premis_describes_the_entity_its_files_and_their_events_in_schema_order():
    root = premis_of(item())
    assert root.tag == f"{{{bags.PREMIS}}}premis" and root.get("version") == "3.0"
    # PREMIS 3: objects, then events, then agents
    kinds = [etree.QName(child).localname for child in root]
    assert kinds == ["object", "object", "event", "event", "agent"]
    entity, stored = root.xpath("premis:object", namespaces=P)
    xsi_type = f"{{{bags.XSI}}}type"
    assert entity.get(xsi_type) == "premis:intellectualEntity"
    assert text(entity, "premis:objectIdentifier/premis:objectIdentifierValue") == [
        "ark:/99999/lodge-i1",
        "10.1234/moss",
    ]
    assert stored.get(xsi_type) == "premis:file"
    assert [etree.QName(child).localname for child in stored] == [
        "objectIdentifier",
        "objectCharacteristics",
        "originalName",
        "storage",
        "relationship",
    ]
    characteristics = stored.find("premis:objectCharacteristics", P)
    assert [etree.QName(child).localname for child in characteristics] == [
        "compositionLevel",
        "fixity",
        "size",
        "format",
    ]
    assert text(stored, ".//premis:messageDigest") == ["a" * 64]
    # the depositor's name as it was, without the control character XML cannot hold
    assert text(stored, "premis:originalName") == ["../moss.pdf"]
    assert text(stored, ".//premis:contentLocationValue") == ["data/moss_.pdf"]
    events = root.xpath("premis:event", namespaces=P)
    assert [text(e, "premis:eventType")[0] for e in events] == ["replication", "fixity check"]
    assert [etree.QName(child).localname for child in events[1]] == [
        "eventIdentifier",
        "eventType",
        "eventDateTime",
        "eventDetailInformation",
        "eventOutcomeInformation",
        "linkingAgentIdentifier",
        "linkingObjectIdentifier",
    ]
    assert text(events[1], ".//premis:eventOutcome") == ["failure"]
    assert text(events[1], "premis:eventDateTime") == [AT.isoformat()]


def test_premis_of_a_withdrawn_item_records_its_deaccession_and_no_file_in_the_bag():
    root = premis_of(item(withdrawn=True))
    assert text(root, ".//premis:contentLocationValue") == []
    [deaccession] = [
        e for e in root.xpath("premis:event", namespaces=P)
        if text(e, "premis:eventType") == ["deaccession"]
    ]  # fmt: skip
    assert text(deaccession, ".//premis:eventDetail") == ["Duplicate"]


@pytest.mark.parametrize(
    "value",
    [
        "s3://Bad_Bucket/x",
        "s3://bucket/../escape",
        "s3://bucket/a b",
        "s3://bucket/",
        "s3://bucket/x\ny",
    ],
)
def test_a_bag_target_on_s3_must_be_a_plain_bucket_and_prefix(value):
    with pytest.raises(SettingsError, match="LODGE_BAG_TARGET"):
        load_settings({"LODGE_BAG_TARGET": value})


def test_the_bag_target_is_a_folder_under_the_data_folder_by_default(tmp_path):
    settings = load_settings({"LODGE_DATA_DIR": str(tmp_path)})
    assert settings.preservation.bag_target == str(tmp_path / "bags")
    assert not settings.preservation.bag_export_scheduled
    s3 = load_settings({"LODGE_BAG_TARGET": "s3://bags-bucket/lodge/bags/"})
    assert s3.preservation.bag_target == "s3://bags-bucket/lodge/bags"
