"""Crosswalks: a profile's fields to Dublin Core, then oai_dc (schema-valid) and DataCite."""

from lxml import etree

from kernel.contracts.oai import DATACITE
from services.inventory.crosswalks import creators, datacite, dublin_core, oai_dc
from tests.support.oai_schemas import assert_valid

FORM = [
    {"key": "title", "type": "text", "dc": "title"},
    {"key": "creators", "type": "person", "dc": "creator"},
    {"key": "abstract", "type": "long_text", "dc": "description"},
    {"key": "date", "type": "date", "dc": "date"},
    {"key": "keywords", "type": "keywords", "dc": "subject"},
    {"key": "internal_note", "type": "text"},  # no dc mapping: stays out of the record
]
METADATA = {
    "title": "On Moss & <Lichen>",
    "abstract": "Mosses of the north.",
    "date": "2026-05-01",
    "creators": [{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}, {"name": "Kim Co"}],
    "keywords": ["moss", "", "lichen"],
    "internal_note": "not public",
}


def item(**overrides):
    return {
        "identifier": "ark:/99999/lodge-abc",
        "record": dublin_core(FORM, METADATA),
        "resource_type": "dataset",
        "creators": creators(FORM, METADATA),
        "landing_url": "https://r.example/items/1",
        "repository_name": "Lodge",
        "created_at": "2026-11-29T10:00:00+00:00",
        "formats": ["application/pdf", "text/csv", "application/pdf"],
        **overrides,
    }


def test_fields_map_to_their_dublin_core_elements_and_people_keep_their_orcid():
    assert dublin_core(FORM, METADATA) == {
        "title": ["On Moss & <Lichen>"],
        "creator": ["Sam Student", "Kim Co"],
        "description": ["Mosses of the north."],
        "date": ["2026-05-01"],
        "subject": ["moss", "lichen"],
    }
    assert creators(FORM, METADATA) == [
        {"name": "Sam Student", "orcid": "0000-0002-1825-0097"},
        {"name": "Kim Co", "orcid": None},
    ]


def test_oai_dc_is_valid_and_carries_the_identifier_and_landing_page():
    root = assert_valid("oai_dc.xsd", oai_dc(item()))
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert [e.text for e in root.iter(f"{dc}title")] == ["On Moss & <Lichen>"]
    assert [e.text for e in root.iter(f"{dc}identifier")] == [
        "ark:/99999/lodge-abc",
        "https://r.example/items/1",
    ]
    assert [e.text for e in root.iter(f"{dc}creator")] == ["Sam Student", "Kim Co"]


def test_oai_dc_text_is_escaped_and_reads_back_as_it_was():
    hostile = "a & b < c > d ]]> \"e\" 'f' \r\n g </dc:title><x/>"
    written = oai_dc(item(record={"title": [hostile], "subject": ["&amp;"]}))
    root = assert_valid("oai_dc.xsd", written)
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert [e.text for e in root.iter(f"{dc}title")] == [hostile]
    assert [e.text for e in root.iter(f"{dc}subject")] == ["&amp;"]
    assert len(root) == len(list(root.iter())) - 1  # flat: nothing smuggled in


def test_datacite_text_and_attributes_are_escaped_and_read_back_as_they_were():
    hostile = "a & b < c > d \"e\" 'f' \r\n\t g </title><x/>"
    relation = {"identifier": hostile, "identifier_type": "ARK", "relation_type": hostile}
    written = datacite(
        item(
            record={"title": [hostile], "description": [hostile]},
            creators=[{"name": hostile, "orcid": "0000-0002-1825-0097"}],
            relations=[relation],
            repository_name=hostile,
        )
    )
    root = etree.fromstring(written)
    ns = {"d": DATACITE}
    for path in ("d:titles/d:title", "d:publisher", "d:creators/d:creator/d:creatorName"):
        assert root.xpath(f"{path}/text()", namespaces=ns) == [hostile]
    assert root.xpath("d:relatedIdentifiers/d:relatedIdentifier/text()", namespaces=ns) == [hostile]
    assert not root.xpath("//d:x", namespaces=ns)  # nothing smuggled in


def test_datacite_has_the_mandatory_properties():
    root = etree.fromstring(datacite(item()))
    ns = {"d": DATACITE}
    assert root.tag == f"{{{DATACITE}}}resource"
    assert root.xpath("d:identifier/@identifierType", namespaces=ns) == ["ARK"]
    assert root.xpath("d:creators/d:creator/d:creatorName/text()", namespaces=ns) == [
        "Sam Student",
        "Kim Co",
    ]
    assert root.xpath(
        "d:creators/d:creator/d:nameIdentifier[@nameIdentifierScheme='ORCID']/text()", namespaces=ns
    ) == ["0000-0002-1825-0097"]
    assert root.xpath("d:titles/d:title/text()", namespaces=ns) == ["On Moss & <Lichen>"]
    assert root.xpath("d:publisher/text()", namespaces=ns) == ["Lodge"]
    assert root.xpath("d:publicationYear/text()", namespaces=ns) == ["2026"]
    assert root.xpath("d:resourceType/@resourceTypeGeneral", namespaces=ns) == ["Dataset"]
    assert root.xpath("d:formats/d:format/text()", namespaces=ns) == ["application/pdf", "text/csv"]
    assert root.xpath("d:descriptions/d:description/@descriptionType", namespaces=ns) == [
        "Abstract"
    ]


def test_datacite_falls_back_where_the_record_is_thin():
    thin = item(
        record={"title": ["Untitled notes"]},
        creators=[],
        formats=[],
        identifier="hdl:20.500/1",
        resource_type=None,
    )
    root = etree.fromstring(datacite(thin))
    ns = {"d": DATACITE}
    assert root.xpath("d:identifier/@identifierType", namespaces=ns) == ["Handle"]
    assert root.xpath("d:creators/d:creator/d:creatorName/text()", namespaces=ns) == ["(:unav)"]
    assert root.xpath("d:publicationYear/text()", namespaces=ns) == ["2026"]
    assert root.xpath("d:resourceType/@resourceTypeGeneral", namespaces=ns) == ["Text"]


def test_an_item_with_a_doi_is_identified_by_it_in_oai_dc_and_datacite():
    with_doi = item(doi="10.80000/abc")
    root = assert_valid("oai_dc.xsd", oai_dc(with_doi))
    assert "https://doi.org/10.80000/abc" in [
        e.text for e in root.iter("{http://purl.org/dc/elements/1.1/}identifier")
    ]
    root = etree.fromstring(datacite(with_doi))
    ns = {"d": DATACITE}
    assert root.xpath("d:identifier/@identifierType", namespaces=ns) == ["DOI"]
    assert root.xpath("d:identifier/text()", namespaces=ns) == ["10.80000/abc"]
    alternates = root.xpath("d:alternateIdentifiers/d:alternateIdentifier", namespaces=ns)
    assert [(a.get("alternateIdentifierType"), a.text) for a in alternates] == [
        ("ARK", "ark:/99999/lodge-abc"),
        ("URL", "https://r.example/items/1"),
    ]
