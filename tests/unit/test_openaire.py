"""oai_openaire: an item as an OpenAIRE Guidelines 4.0 record, valid against the vendored
schema and the validator's rules for every access an item can have."""

from datetime import date

import pytest

from kernel.contracts.oai import DATACITE, OAIRE
from services.inventory.openaire import access_right, openaire
from tests.support.openaire_rules import NS, assert_openaire

ORCID = "0000-0002-1825-0097"
FILE = {"url": "https://r.example/api/v1/items/i1/files/f1", "media_type": "application/pdf"}


def item(**overrides):
    return {
        "identifier": "ark:/99999/lodge-abc",
        "record": {
            "title": ["On Moss & <Lichen>", "Mosses"],
            "creator": ["Sam Student", "Kim Co"],
            "description": ["Mosses of the north."],
            "date": ["2026-05-01"],
            "language": ["en"],
            "subject": ["moss", "lichen"],
            "rights": ["https://creativecommons.org/licenses/by/4.0/"],
        },
        "resource_type": "journal-article",
        "creators": [{"name": "Sam Student", "orcid": ORCID}, {"name": "Kim Co", "orcid": None}],
        "landing_url": "https://r.example/id/ark:/99999/lodge-abc",
        "repository_name": "Lodge",
        "created_at": "2026-11-29T10:00:00+00:00",
        "access": "open",
        "embargo_until": None,
        "doi": None,
        "files": [FILE, {**FILE, "url": FILE["url"] + "2", "media_type": "text/csv"}],
        **overrides,
    }


def texts(root, path):
    return [element.text for element in root.xpath(path, namespaces=NS)]


def test_an_open_article_carries_every_field_the_item_has():
    root = assert_openaire(openaire(item()))
    assert texts(root, "datacite:titles/datacite:title") == ["On Moss & <Lichen>", "Mosses"]
    assert texts(root, "datacite:creators/datacite:creator/datacite:creatorName") == [
        "Sam Student",
        "Kim Co",
    ]
    people = "datacite:creators/datacite:creator"
    [orcid] = root.xpath(f"{people}/datacite:nameIdentifier", namespaces=NS)
    assert (orcid.text, orcid.get("nameIdentifierScheme")) == (ORCID, "ORCID")
    [identifier] = root.xpath("datacite:identifier", namespaces=NS)
    assert (identifier.text, identifier.get("identifierType")) == ("ark:/99999/lodge-abc", "ARK")
    assert texts(root, "datacite:alternateIdentifiers/datacite:alternateIdentifier") == [
        "https://r.example/id/ark:/99999/lodge-abc"
    ]
    assert texts(root, "datacite:dates/datacite:date[@dateType='Issued']") == ["2026-05-01"]
    assert texts(root, "dc:language") == ["en"] and texts(root, "dc:publisher") == ["Lodge"]
    assert texts(root, "dc:description") == ["Mosses of the north."]
    assert texts(root, "dc:format") == ["application/pdf", "text/csv"]
    assert texts(root, "datacite:subjects/datacite:subject") == ["moss", "lichen"]
    [kind] = root.xpath("oaire:resourceType", namespaces=NS)
    assert kind.attrib == {
        "resourceTypeGeneral": "literature",
        "uri": "http://purl.org/coar/resource_type/c_6501",
    }
    [licence] = root.xpath("oaire:licenseCondition", namespaces=NS)
    assert licence.get("uri") == "https://creativecommons.org/licenses/by/4.0/"
    assert licence.get("startDate") == "2026-05-01"
    files = root.xpath("oaire:file", namespaces=NS)
    assert [(f.text, f.get("mimeType"), f.get("objectType")) for f in files] == [
        (FILE["url"], "application/pdf", "fulltext"),
        (FILE["url"] + "2", "text/csv", "fulltext"),
    ]
    assert {f.get("accessRightsURI") for f in files} == {"http://purl.org/coar/access_right/c_abf2"}
    assert root.xpath("datacite:relatedIdentifiers", namespaces=NS) == []


def test_a_doi_is_the_identifier_and_the_local_one_an_alternate():
    root = assert_openaire(openaire(item(doi="10.1234/lodge.abc", identifier="20.500.1/x")))
    [identifier] = root.xpath("datacite:identifier", namespaces=NS)
    assert (identifier.text, identifier.get("identifierType")) == ("10.1234/lodge.abc", "DOI")
    alternates = root.xpath(
        "datacite:alternateIdentifiers/datacite:alternateIdentifier", namespaces=NS
    )
    assert [(a.text, a.get("alternateIdentifierType")) for a in alternates] == [
        ("20.500.1/x", "Handle"),
        ("https://r.example/id/ark:/99999/lodge-abc", "URL"),
    ]


def test_a_handle_without_a_doi_is_named_as_the_schema_spells_it():
    root = assert_openaire(openaire(item(identifier="20.500.12345/abc")))
    assert root.xpath("datacite:identifier/@identifierType", namespaces=NS) == ["HANDLE"]


@pytest.mark.parametrize(
    "access, embargo_until, files, right",
    [
        ("open", None, [FILE], "c_abf2"),
        ("campus", None, [FILE], "c_16ec"),
        ("embargo", "2999-01-01", [FILE], "c_f1cf"),
        ("embargo", "2000-01-01", [FILE], "c_abf2"),  # ended; the timer has not run yet
        ("open", None, [], "c_14cb"),
    ],
)
def test_access_rights_follow_the_access_and_the_embargo(access, embargo_until, files, right):
    shown = item(access=access, embargo_until=embargo_until, files=files)
    root = assert_openaire(openaire(shown))
    uri = f"http://purl.org/coar/access_right/{right}"
    assert root.xpath("datacite:rights/@rightsURI", namespaces=NS) == [uri]
    assert set(root.xpath("oaire:file/@accessRightsURI", namespaces=NS)) <= {uri}
    if embargo_until:
        dates = root.xpath("datacite:dates/datacite:date", namespaces=NS)
        assert {(d.get("dateType"), d.text) for d in dates} == {
            ("Accepted", "2026-11-29"),
            ("Available", embargo_until),
            ("Issued", "2026-05-01"),
        }
        assert root.xpath("oaire:licenseCondition/@startDate", namespaces=NS) == [embargo_until]


def test_an_embargo_opens_on_its_date():
    embargoed = item(access="embargo", embargo_until="2030-06-01")
    assert access_right(embargoed, today=date(2030, 5, 31)) == "embargoed"
    assert access_right(embargoed, today=date(2030, 6, 1)) == "open"


def test_relations_carry_over_and_ones_the_schema_does_not_know_are_left_out():
    relations = [
        {"relation_type": "IsNewVersionOf", "identifier": "10.1234/v1", "identifier_type": "DOI"},
        {"relation_type": "IsVersionOf", "identifier": "10.1234/c", "identifier_type": "DOI"},
        {"relation_type": "IsFriendOf", "identifier": "10.1234/x", "identifier_type": "DOI"},
        {"relation_type": "Cites", "identifier": "x", "identifier_type": "Telephone"},
        {"relation_type": "Cites", "identifier": "", "identifier_type": "URL"},
    ]
    root = assert_openaire(openaire(item(relations=relations)))
    related = root.xpath("datacite:relatedIdentifiers/datacite:relatedIdentifier", namespaces=NS)
    assert [(r.text, r.get("relationType"), r.get("relatedIdentifierType")) for r in related] == [
        ("10.1234/v1", "IsNewVersionOf", "DOI"),
        ("10.1234/c", "IsVersionOf", "DOI"),
    ]


def test_a_bare_record_still_has_every_mandatory_field():
    bare = item(record={}, creators=[], files=[], resource_type="no-such-type")
    root = assert_openaire(openaire(bare))
    assert texts(root, "datacite:titles/datacite:title") == ["(:unav)"]
    # the date it went into the repository stands in for a publication date
    assert texts(root, "datacite:dates/datacite:date[@dateType='Issued']") == ["2026-11-29"]
    assert root.xpath("datacite:creators", namespaces=NS) == []
    assert root.xpath("oaire:resourceType/@uri", namespaces=NS) == [
        "http://purl.org/coar/resource_type/c_18cf"
    ]


def test_a_date_that_is_not_w3cdtf_gives_way_to_the_next_that_is():
    shown = item(record={**item()["record"], "date": ["spring 2026", "2026-04"]})
    root = assert_openaire(openaire(shown))
    assert texts(root, "datacite:dates/datacite:date[@dateType='Issued']") == ["2026-04"]


def test_namespaces_are_the_ones_the_format_is_declared_with():
    root = assert_openaire(openaire(item()))
    assert root.nsmap["oaire"] == OAIRE and root.nsmap["datacite"] == DATACITE
