"""Versions of a work and corrections, without I/O: the relations between versions, the
version list a landing page shows, what a correction changes, the prefilled metadata of a
new version, and the relations in oai_dc (schema-valid) and DataCite."""

from types import SimpleNamespace

import pytest
from lxml import etree
from werkzeug.datastructures import MultiDict

from gateway.presenters.versions import (
    correction_form,
    correction_request,
    field_messages,
    work,
)
from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.inventory import ItemView
from kernel.contracts.oai import DATACITE
from services.intake.versions import prefill
from services.inventory.corrections import changes, corrected_record
from services.inventory.crosswalks import datacite, oai_dc
from services.inventory.identifiers import scheme
from services.inventory.versions import has_versions, related_identifier, relations
from tests.support.oai_schemas import assert_valid
from tests.unit.test_crosswalks import item as crosswalk_item

WORK = "ark:/99999/lodge-work"


def version(n, doi=None):
    return SimpleNamespace(id=f"i{n}", identifier=f"ark:/99999/lodge-i{n}", doi=doi)


VERSIONS = [version(1), version(2, doi="10.5555/two"), version(3)]


def test_the_first_version_of_a_work_is_only_a_version_of_it():
    assert relations("i1", WORK, VERSIONS[:1]) == [
        {"relation_type": "IsVersionOf", "identifier": WORK, "identifier_type": "ARK"}
    ]


def test_a_middle_version_relates_to_both_neighbours_by_doi_where_they_have_one():
    assert relations("i2", WORK, VERSIONS) == [
        {
            "relation_type": "IsNewVersionOf",
            "identifier": "ark:/99999/lodge-i1",
            "identifier_type": "ARK",
        },
        {
            "relation_type": "IsPreviousVersionOf",
            "identifier": "ark:/99999/lodge-i3",
            "identifier_type": "ARK",
        },
        {"relation_type": "IsVersionOf", "identifier": WORK, "identifier_type": "ARK"},
    ]
    assert relations("i3", WORK, VERSIONS)[0] == {
        "relation_type": "IsNewVersionOf",
        "identifier": "10.5555/two",
        "identifier_type": "DOI",
    }
    # every relation passes the contract other lanes build DataCite payloads from
    assert not ItemView().validate({"relations": relations("i2", WORK, VERSIONS)}, partial=True)


def test_a_work_with_a_concept_doi_is_named_by_it():
    assert relations("i1", WORK, VERSIONS[:1], "10.5555/work")[-1] == {
        "relation_type": "IsVersionOf",
        "identifier": "10.5555/work",
        "identifier_type": "DOI",
    }


def test_a_concept_doi_has_each_version_by_doi_where_it_has_one():
    related = has_versions(VERSIONS)
    assert [(r["relation_type"], r["identifier"], r["identifier_type"]) for r in related] == [
        ("HasVersion", "ark:/99999/lodge-i1", "ARK"),
        ("HasVersion", "10.5555/two", "DOI"),
        ("HasVersion", "ark:/99999/lodge-i3", "ARK"),
    ]
    assert not ItemView().validate({"relations": related}, partial=True)


def test_identifier_kinds():
    assert scheme("ark:/99999/x") == "ARK" and scheme("20.500.12345/abc") == "Handle"
    assert related_identifier("20.500.12345/abc", None)["identifier_type"] == "Handle"


def listed(n, withdrawn=False):
    return {
        "item_id": f"i{n}",
        "identifier": f"ark:/99999/lodge-i{n}",
        "version": n,
        "created_at": "2026-12-01T00:00:00+00:00",
        "withdrawn_at": "2026-12-02T00:00:00+00:00" if withdrawn else None,
    }


THREE = [listed(1), listed(2), listed(3, True)]


def test_the_version_list_marks_this_the_latest_and_withdrawn_versions():
    shown = work({"id": "i1", "version": 1, "versions": THREE})
    assert [(v["current"], v["latest"]) for v in shown["versions"]] == [
        (True, False),
        (False, True),
        (False, False),
    ]
    assert shown["latest"]["item_id"] == "i2" and shown["superseded"]
    # the latest live version is not superseded, even with a withdrawn one after it
    assert not work(
        {"id": "i2", "version": 2, "versions": [listed(1), listed(2), listed(3, True)]}
    )["superseded"]
    # a withdrawn version points to the latest live one, even an older one
    assert work({"id": "i3", "version": 3, "versions": THREE})["superseded"]
    # every version withdrawn: none is the latest
    alone = work({"id": "i1", "versions": [listed(1, True)]})
    assert alone["latest"] is None and not alone["superseded"]


def test_a_correction_lists_each_changed_element_before_and_after_then_the_creators():
    before = {"title": ["On Moss"], "subject": ["moss"], "creator": ["Sam"]}
    after = {"title": ["On Mosses"], "creator": ["Sam"], "language": ["en"]}
    people = [{"name": "Sam", "orcid": None}]
    assert changes(before, after, people, [{"name": "Sam", "orcid": "0000-0002-1825-0097"}]) == [
        {"element": "title", "before": ["On Moss"], "after": ["On Mosses"]},
        {"element": "subject", "before": ["moss"], "after": []},
        {"element": "language", "before": [], "after": ["en"]},
        {"element": "creators", "before": ["Sam"], "after": ["Sam (ORCID 0000-0002-1825-0097)"]},
    ]
    assert changes(before, before, people, people) == []


def test_the_corrected_record_takes_its_creators_from_the_people_and_drops_empty_elements():
    record = corrected_record(
        {"title": [" On Moss "], "subject": []}, [{"name": "Sam"}, {"name": "Kim"}]
    )
    assert record == {"title": ["On Moss"], "creator": ["Sam", "Kim"]}
    for refused in ({"subject": ["x"]}, {"title": ["x"], "creator": ["y"]}, {"title": ["x", " "]}):
        with pytest.raises(InvalidInput):
            corrected_record(refused, [])


def test_a_new_version_keeps_the_metadata_the_current_form_still_takes():
    form = [
        {"key": "title", "type": "text", "required": True, "repeatable": False},
        {"key": "date", "type": "date", "required": False, "repeatable": False},
    ]
    assert prefill(form, {"title": "On Moss", "date": "2026-13-40", "degree": "Master"}) == {
        "title": "On Moss"
    }


def test_the_correction_form_round_trips_to_a_request():
    shown = correction_form(
        {"record": {"title": ["On Moss"], "creator": ["Sam"]}, "creators": None}
    )
    assert shown["creators"] == [{"name": "Sam", "orcid": None}, {"name": "", "orcid": None}]
    title = next(e for e in shown["elements"] if e["name"] == "title")
    assert title["values"] == ["On Moss", ""]
    assert "creator" not in {e["name"] for e in shown["elements"]}
    form = MultiDict(
        [
            ("title", "On Mosses"),
            ("title", ""),
            ("subject", "moss"),
            ("creator_name", "Sam"),
            ("creator_orcid", "0000-0002-1825-0097"),
            ("creator_name", ""),
            ("creator_orcid", ""),
            ("creator_name", "Kim"),
        ]
    )
    assert correction_request(form) == {
        "record": {"title": ["On Mosses"], "subject": ["moss"]},
        "creators": [
            {"name": "Sam", "orcid": "0000-0002-1825-0097"},
            {"name": "Kim", "orcid": None},
        ],
    }


def test_field_messages_put_nested_errors_by_their_boxes():
    assert field_messages(
        {"record": {"title": {"value": {0: ["too long"]}}}, "reason": ["required"]}
    ) == {"title": ["too long"], "reason": ["required"]}
    assert field_messages({"record": ["is the same as the item's"]}) == {
        "record": ["is the same as the item's"]
    }


def test_oai_dc_and_datacite_carry_the_relations():
    shown = crosswalk_item(
        relations=relations("i2", WORK, VERSIONS),
        resolver="https://r.example/id/",
        record={"title": ["T"], "relation": ["https://example.org/dataset"]},
    )
    root = assert_valid("oai_dc.xsd", oai_dc(shown))
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert [e.text for e in root.iter(f"{dc}relation")] == [
        "https://example.org/dataset",
        "https://r.example/id/ark:/99999/lodge-i1",
        "https://r.example/id/ark:/99999/lodge-i3",
        f"https://r.example/id/{WORK}",
    ]
    resource = etree.fromstring(datacite(shown))
    related = resource.find(f"{{{DATACITE}}}relatedIdentifiers")
    assert [(r.get("relationType"), r.get("relatedIdentifierType"), r.text) for r in related] == [
        ("IsNewVersionOf", "ARK", "ark:/99999/lodge-i1"),
        ("IsPreviousVersionOf", "ARK", "ark:/99999/lodge-i3"),
        ("IsVersionOf", "ARK", WORK),
    ]
    doi = crosswalk_item(relations=relations("i3", WORK, VERSIONS), resolver="x")
    assert "https://doi.org/10.5555/two" in oai_dc(doi)
