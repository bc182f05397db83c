"""Every crosswalk says the same about what an item is, for every resource type a profile
may name, and none of them reads it from the profile's name or the item's words."""

import pytest
from lxml import etree

from gateway.presenters import landing
from kernel.contracts.oai import DATACITE, OAIRE
from kernel.contracts.resource_types import COAR, RESOURCE_TYPES, suggested
from services.inventory.crosswalks import DC, RENDERERS
from tests.support.oai_schemas import OPENAIRE, assert_valid

# what DataCite kernel 4.4 and the DCMI Type Vocabulary allow
DATACITE_GENERAL = {
    "Audiovisual",
    "Book",
    "BookChapter",
    "Collection",
    "ComputationalNotebook",
    "ConferencePaper",
    "ConferenceProceeding",
    "DataPaper",
    "Dataset",
    "Dissertation",
    "Event",
    "Image",
    "InteractiveResource",
    "Journal",
    "JournalArticle",
    "Model",
    "OutputManagementPlan",
    "PeerReview",
    "PhysicalObject",
    "Preprint",
    "Report",
    "Service",
    "Software",
    "Sound",
    "Standard",
    "Text",
    "Workflow",
    "Other",
}
DCMI_TYPES = {
    "Collection",
    "Dataset",
    "Event",
    "Image",
    "InteractiveResource",
    "MovingImage",
    "PhysicalObject",
    "Service",
    "Software",
    "Sound",
    "StillImage",
    "Text",
}
# which Schema.org types and DCMI types say the same as a resourceTypeGeneral: written out
# here, apart from the vocabulary, so that a row which pairs them wrongly fails
AGREEING = {
    "JournalArticle": ({"ScholarlyArticle"}, {"Text"}),
    "Preprint": ({"ScholarlyArticle"}, {"Text"}),
    "ConferencePaper": ({"ScholarlyArticle"}, {"Text"}),
    "Book": ({"Book"}, {"Text"}),
    "BookChapter": ({"Chapter"}, {"Text"}),
    "Report": ({"Report"}, {"Text"}),
    "Dissertation": ({"Thesis"}, {"Text"}),
    "Text": ({"CreativeWork", "TextDigitalDocument"}, {"Text"}),
    "Dataset": ({"Dataset"}, {"Dataset"}),
    "Software": ({"SoftwareSourceCode", "SoftwareApplication"}, {"Software"}),
    "Image": ({"ImageObject", "Photograph"}, {"Image", "StillImage"}),
    "Audiovisual": ({"VideoObject", "MovieClip"}, {"MovingImage"}),
    "Sound": ({"AudioObject"}, {"Sound"}),
}


def item(resource_type: str, **record) -> dict:
    return {
        "identifier": "ark:/99999/lodge-1",
        "landing_url": "https://r.example/id/1",
        "repository_name": "Lodge",
        "created_at": "2026-11-29T10:00:00+00:00",
        "resource_type": resource_type,
        "access": "open",
        "embargo_until": None,
        "record": {"title": ["Mosses"], "date": ["2026"], **record},
        "creators": [],
        "formats": [],
        "representations": [],
    }


def oai_dc_types(item):
    root = assert_valid("oai_dc.xsd", RENDERERS["oai_dc"](item))
    return [element.text for element in root.iter(f"{{{DC}}}type")]


def datacite_type(item):
    root = etree.fromstring(RENDERERS["datacite"](item))
    [element] = root.iter(f"{{{DATACITE}}}resourceType")
    return element.get("resourceTypeGeneral"), element.text


def openaire_type(item):
    root = assert_valid(OPENAIRE, RENDERERS["oai_openaire"](item))
    [element] = root.iter(f"{{{OAIRE}}}resourceType")
    return element.get("resourceTypeGeneral"), element.get("uri"), element.text


def json_ld(item):
    return landing.json_ld(item, "Lodge", "https://r.example/items/1", lambda f: "", True)


def test_every_crosswalk_is_checked_here():
    # a new format joins the test below
    assert set(RENDERERS) == {"oai_dc", "datacite", "oai_openaire"}


@pytest.mark.parametrize("key", sorted(RESOURCE_TYPES))
def test_every_crosswalk_agrees_on_the_resource_type(key):
    kind = RESOURCE_TYPES[key]
    assert kind.uri.startswith(COAR) and kind.datacite in DATACITE_GENERAL
    assert kind.dcmi in DCMI_TYPES
    schema_types, dcmi_types = AGREEING[kind.datacite]
    assert kind.schema_org in schema_types and kind.dcmi in dcmi_types

    # words that once chose the type (the profile's name as dc:type) no longer do
    typed = item(key, type=["Articles, datasets and other works"])
    assert oai_dc_types(typed)[:3] == [kind.label, kind.uri, kind.dcmi]
    assert datacite_type(typed) == (kind.datacite, kind.label)
    general = {"Dataset": "dataset", "Software": "software"}.get(kind.datacite)
    if general is None:  # OpenAIRE's literature is text of any kind; the rest is "other"
        general = "literature" if kind.dcmi == "Text" else "other research product"
    assert openaire_type(typed) == (general, kind.uri, kind.label)
    data = json_ld(typed)
    assert (data["@type"], data["additionalType"]) == (kind.schema_org, kind.uri)
    assert landing.kinds(typed)[0] == kind.heading
    # files are a Dataset's distribution and any other work's encoding
    assert ("distribution" in data) == (kind.schema_org == "Dataset")


def test_a_paper_is_an_article_in_every_crosswalk():
    paper = item("journal-article", type=["Articles, datasets and other works"])
    assert datacite_type(paper)[0] == "JournalArticle"
    assert json_ld(paper)["@type"] == "ScholarlyArticle"
    assert "journal article" in oai_dc_types(paper)


def test_a_field_mapped_to_dc_type_refines_the_type_without_repeating_it():
    thesis = item("master-thesis", type=["Master", "master thesis"])
    assert oai_dc_types(thesis) == [
        "master thesis",
        RESOURCE_TYPES["master-thesis"].uri,
        "Text",
        "Master",
    ]
    assert landing.kinds(thesis) == ["Master thesis", "Master"]


@pytest.mark.parametrize(
    "words, key",
    [
        (["Articles, datasets and other works"], "journal-article"),
        (["Thesis"], "thesis"),
        (["Master"], "master-thesis"),
        (["Research data"], "dataset"),
        (["Podcasts"], "sound"),
        (["Anything else"], "text"),
        ([], "text"),
    ],
)
def test_profiles_and_items_from_before_get_the_type_their_words_suggest(words, key):
    assert suggested(words) == key
