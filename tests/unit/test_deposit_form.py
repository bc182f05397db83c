"""The metadata form a profile generates, and the metadata parsed back from it."""

from werkzeug.datastructures import MultiDict

from gateway.forms.deposit import LANGUAGE_CHOICES, parse, widgets
from services.intake.seed import DEMO_PROFILES

THESIS_FORM = [
    {
        "help": "",
        "required": False,
        "repeatable": False,
        "max_values": None,
        "dc": None,
        "vocabulary": [],
        **field,
    }
    for field in DEMO_PROFILES["thesis"]["fields"]
]
LICENCE = {
    "key": "licence",
    "label": "Licence",
    "type": "licence",
    "required": False,
    "repeatable": False,
    "vocabulary": ["CC-BY-4.0", "CC0-1.0"],
    "help": "",
}
HOMEPAGE = {
    "key": "homepage",
    "label": "Homepage",
    "type": "url",
    "required": False,
    "repeatable": True,
    "max_values": 3,
    "vocabulary": [],
    "help": "Where else",
}


def by_key(form_widgets):
    return {widget["key"]: widget for widget in form_widgets}


def test_each_field_type_gets_its_input():
    form = by_key(widgets(THESIS_FORM + [LICENCE, HOMEPAGE], {}))
    assert {key: widget["input"] for key, widget in form.items()} == {
        "title": "text",
        "creators": "person",
        "abstract": "textarea",
        "date": "date",
        "keywords": "keywords",
        "language": "select",
        "degree": "select",
        "licence": "select",
        "homepage": "url",
    }
    assert form["degree"]["options"] == [
        ("Bachelor", "Bachelor"),
        ("Master", "Master"),
        ("Doctorate", "Doctorate"),
    ]
    assert form["language"]["options"] == list(LANGUAGE_CHOICES)
    assert form["homepage"]["repeatable"] and form["homepage"]["max_values"] == 3
    assert form["title"]["required"] and not form["keywords"]["required"]


def test_a_licence_without_vocabulary_is_a_url():
    free = {**LICENCE, "vocabulary": []}
    assert widgets([free], {})[0]["input"] == "url"


def test_repeatable_fields_offer_one_empty_row_more_than_they_hold():
    form = by_key(widgets(THESIS_FORM, {"creators": [{"name": "A"}, {"name": "B"}]}))
    assert form["creators"]["values"] == [{"name": "A"}, {"name": "B"}, {}]
    assert by_key(widgets(THESIS_FORM, {}))["creators"]["values"] == [{}]


def test_errors_are_attached_to_their_field():
    form = by_key(widgets(THESIS_FORM, {}, {"date": ["must be a date"]}))
    assert form["date"]["errors"] == ["must be a date"]
    assert form["title"]["errors"] == []


def test_parse_reads_every_kind_of_input_and_drops_empty_ones():
    data = MultiDict(
        [
            ("m-title", "  On Moss "),
            ("m-abstract", ""),
            ("m-date", "2026-05"),
            ("m-creators-name", "Sam Student"),
            ("m-creators-orcid", "0000-0002-1825-0097"),
            ("m-creators-name", "Ada"),
            ("m-creators-orcid", ""),
            ("m-creators-name", ""),
            ("m-creators-orcid", ""),
            ("m-keywords", "moss, bryophytes ,, north"),
            ("m-language", "en"),
            ("m-degree", "Master"),
            ("m-homepage", "https://a.example"),
            ("m-homepage", ""),
        ]
    )
    assert parse(THESIS_FORM + [HOMEPAGE], data) == {
        "title": "On Moss",
        "date": "2026-05",
        "creators": [{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}, {"name": "Ada"}],
        "keywords": ["moss", "bryophytes", "north"],
        "language": "en",
        "degree": "Master",
        "homepage": ["https://a.example"],
    }


def test_what_is_parsed_renders_back_the_same():
    metadata = {
        "title": "On Moss",
        "creators": [{"name": "Ada", "orcid": "0000-0002-1825-0097"}],
        "keywords": ["moss", "north"],
        "degree": "Master",
    }
    form = by_key(widgets(THESIS_FORM, metadata))
    data = MultiDict(
        [
            ("m-title", form["title"]["values"][0]),
            ("m-creators-name", "Ada"),
            ("m-creators-orcid", "0000-0002-1825-0097"),
            ("m-keywords", form["keywords"]["values"][0]),
            ("m-degree", form["degree"]["values"][0]),
        ]
    )
    assert parse(THESIS_FORM, data) == metadata
