"""An item's exports (CSL-JSON, BibTeX, RIS, JSON-LD), each read back by a parser of its own,
its citations in each style and language, and its Signposting links, from hostile records too."""

from __future__ import annotations

import json
from pathlib import Path

import bibtexparser
import jsonschema
import pytest
import rispy
from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors
from citeproc.model import CitationStylesElement
from flask import Flask
from pylatexenc import latex2text
from pylatexenc.latex2text import LatexNodes2Text
from pyld import jsonld
from signposting.linkheader import find_signposting_http_link

from gateway.presenters import citations, exports, landing, signposting
from gateway.web import exports as negotiation
from kernel.contracts.resource_types import RESOURCE_TYPES

CSL_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "csl" / "csl-data.json").read_text()
)
URL = "https://repo.example/id/ark:/99999/lodge-1"
HOSTILE_TITLE = (
    'Braces {unbalanced and "quotes" \\emph{x} 100% & $5 #1 a_b ~^ </script><b>bold</b>\n'
    "ER  - injected\r\nTY  - JOUR\x85next\u2028line\tтундра 苔藓 مستنقع "  # noqa: RUF001
)
ITEM = {
    "id": "0123456789abcdef",
    "identifier": "ark:/99999/lodge-1",
    "access": "open",
    "resource_type": "master-thesis",
    "doi": "10.1234/lodge.1",
    "record": {
        "title": ["On Moss"],
        "date": ["2026-05-01"],
        "type": ["Master"],
        "creator": ["Sam Student (ORCID 0000-0002-1825-0097)", "Faculty, Fran Anne", "UNESCO"],
        "subject": ["moss", "bogs"],
        "description": ["Mosses of the north."],
        "language": ["en"],
        "rights": ["https://creativecommons.org/licenses/by/4.0/"],
    },
    "representations": [{"files": []}],
}


def hostile(**changes) -> dict:
    record = {
        **ITEM["record"],
        "title": [HOSTILE_TITLE + "long " * 2000],
        "description": ["Line one\nline two\r\nER  - \n%@{"],
        "creator": ["Smith and Wesson, Jo {x}", "Müller-Lüdenscheidt, Ünal", "中村 美咲"],
        "subject": ["a}b", "c\nd"],
        "date": ["2026-13-45"],
    }
    return {**ITEM, "record": record, **changes}


def one_line(value: str) -> str:
    return " ".join(value.split())


@pytest.mark.parametrize("kind", sorted(RESOURCE_TYPES))
def test_csl_json_is_valid_for_every_resource_type(kind):
    for item in (ITEM, hostile()):
        data = exports.csl_json({**item, "resource_type": kind}, "Lodge", URL)
        jsonschema.validate([data], CSL_SCHEMA)
    data = exports.csl_json(ITEM, "Lodge", URL)
    assert data["DOI"] == "10.1234/lodge.1" and data["URL"] == URL
    assert data["issued"] == {"date-parts": [[2026, 5, 1]]}
    assert data["author"] == [
        {"family": "Student", "given": "Sam"},
        {"family": "Faculty", "given": "Fran Anne"},
        {"literal": "UNESCO"},
    ]
    assert data["genre"] == "Master" and data["type"] == "thesis"


def test_csl_json_keeps_the_year_of_an_impossible_date_and_makes_text_one_line():
    data = exports.csl_json(hostile(), "Lodge", URL)
    assert data["issued"] == {"date-parts": [[2026]]}
    assert "\n" not in data["title"] and "\x85" not in data["title"]
    assert data["title"].startswith("Braces {unbalanced")


def latex_decoder() -> LatexNodes2Text:
    """pylatexenc, taught the LaTeX2e text symbols the export escapes braces and ^ with."""
    context = latex2text.get_default_latex_context_db()
    context.add_context_category(
        "text-symbols",
        prepend=True,
        macros=[
            latex2text.MacroTextSpec("textbraceleft", simplify_repl="{"),
            latex2text.MacroTextSpec("textbraceright", simplify_repl="}"),
            latex2text.MacroTextSpec("textasciicircum", simplify_repl="^"),
        ],
    )
    return LatexNodes2Text(latex_context=context)


def parse_bibtex(text: str):
    library = bibtexparser.parse_string(
        text, append_middleware=[LatexDecodingMiddleware(decoder=latex_decoder())]
    )
    assert not library.failed_blocks, library.failed_blocks
    [entry] = library.entries
    return entry


def test_bibtex_parses_and_decodes_back_to_the_record():
    text = exports.bibtex(ITEM, "Lodge", URL)
    assert "and {UNESCO}}" in text  # an organisation's name is not split into parts
    entry = parse_bibtex(text)
    assert entry.entry_type == "mastersthesis" and entry.key == "lodge-0123456789abcdef"
    fields = entry.fields_dict
    assert fields["title"].value == "On Moss"
    assert fields["author"].value == "Student, Sam and Faculty, Fran Anne and UNESCO"
    assert fields["school"].value == "Lodge" and fields["type"].value == "Master"
    assert fields["doi"].value == "10.1234/lodge.1" and fields["year"].value == "2026"


def test_hostile_bibtex_stays_one_entry_with_balanced_braces():
    item = hostile(version="2 {beta}")
    text = exports.bibtex(item, "Pub {x}", URL)
    entry = parse_bibtex(text)
    fields = entry.fields_dict
    # LaTeX-decoded, the title is the record's title on one line
    assert fields["title"].value == one_line(item["record"]["title"][0])
    assert fields["version"].value == "2 {beta}"
    assert set(fields) >= {"author", "title", "abstract", "keywords", "doi", "url"}
    # "Smith and Wesson" stays one family name, as BibTeX splits names
    [raw] = bibtexparser.parse_string(text, append_middleware=[SeparateCoAuthors()]).entries
    assert len(raw.fields_dict["author"].value) == 3
    assert "тундра 苔藓 مستنقع" in fields["title"].value


def test_ris_parses_and_a_newline_cannot_start_a_tag():
    [entry] = rispy.loads(exports.ris(ITEM, "Lodge", URL))
    assert entry["type_of_reference"] == "THES"
    assert entry["authors"] == ["Student, Sam", "Faculty, Fran Anne", "UNESCO"]
    assert entry["title"] == "On Moss" and entry["doi"] == "10.1234/lodge.1"
    assert entry["keywords"] == ["moss", "bogs"] and entry["year"] == "2026"

    item = hostile(version="3")
    text = exports.ris(item, "Lodge", URL)
    [entry] = rispy.loads(text)
    assert entry["title"] == one_line(item["record"]["title"][0])
    assert entry["edition"] == "3"
    assert [line[:6] for line in text.split("\r\n") if line].count("ER  - ") == 1
    assert "TY  - JOUR" not in text.split("\r\n")


@pytest.mark.parametrize("kind", sorted(RESOURCE_TYPES))
def test_every_resource_type_has_a_bibtex_and_ris_type(kind):
    item = {**ITEM, "resource_type": kind}
    parse_bibtex(exports.bibtex(item, "Lodge", URL))
    assert rispy.loads(exports.ris(item, "Lodge", URL))[0]["type_of_reference"]


SCHEMA_ORG_CONTEXT = {"@context": {"@vocab": "https://schema.org/"}}


def schema_org_only(url, options=None):
    """The network is closed: schema.org's context is its vocabulary, served from here."""
    assert url.rstrip("/") == "https://schema.org", url
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": SCHEMA_ORG_CONTEXT,
    }


def test_json_ld_expands_with_pyld_to_schema_org_statements():
    item = hostile(
        relations=[{"relation_type": "IsPartOf", "identifier": "10.1/c", "identifier_type": "DOI"}]
    )
    data = landing.json_ld(item, "Lodge", "https://repo.example/items/x", lambda f: "", False)
    [expanded] = jsonld.expand(json.loads(json.dumps(data)), {"documentLoader": schema_org_only})
    assert expanded["@id"] == f"https://doi.org/{item['doi']}"  # identified by its DOI
    assert expanded["https://schema.org/url"][0]["@value"] == "https://repo.example/items/x"
    assert expanded["@type"] == ["https://schema.org/Thesis"]
    assert expanded["https://schema.org/name"][0]["@value"] == item["record"]["title"][0]
    assert expanded["https://schema.org/isPartOf"][0]["@value"] == "https://doi.org/10.1/c"


@pytest.mark.parametrize("style", [style.key for style in citations.STYLES])
def test_each_style_renders_in_english_and_german_with_the_item_escaped(style):
    for item in (ITEM, hostile()):
        csl = exports.csl_json(item, "Lodge", URL)
        for language in ("en", "de"):
            html = citations.render(csl, style, language)
            assert "Student" in html or "Smith" in html
            assert "<b>" not in html and "</script>" not in html
    german = citations.render(exports.csl_json(ITEM, "Lodge", URL), style, "de")
    assert any(word in german for word in (" und ", "&amp;", "Verfügbar"))  # the locale's terms


def test_citations_render_as_citeproc_alone_renders_them_and_nothing_kept_grows(monkeypatch):
    items = [exports.csl_json(item, "Lodge", URL) for item in (ITEM, hostile())]
    cases = [
        (csl, key, language) for csl in items for key in STYLE_KEYS for language in ("en", "de")
    ]
    kept = [render_afresh(*case) for case in cases]
    lookups = len(citations._answers)
    sizes = {key: style_size(key) for key in STYLE_KEYS}
    for n in range(20):  # other items: no new lookup, and no style grows (Vancouver's did)
        for key in STYLE_KEYS:
            render_afresh({**items[0], "title": f"Moss {n}"}, key, "en")
    assert len(citations._answers) == lookups
    assert {key: style_size(key) for key in STYLE_KEYS} == sizes
    monkeypatch.setattr(CitationStylesElement, "xpath_search", citations._search)
    assert [render_afresh(*case) for case in cases] == kept


STYLE_KEYS = [style.key for style in citations.STYLES]


def render_afresh(csl: dict, style: str, language: str) -> str:
    """A citation rendered, not taken from the kept ones."""
    return citations._rendered.__wrapped__(*citations.citation_of(csl, style, language))


def style_size(key: str) -> int:
    parsed, _ = citations._parsed(citations.style(key).csl, citations.csl_locale("en"))
    return sum(1 for _ in parsed.root.iter())


def test_the_apa_citation_and_the_style_cache():
    csl = exports.csl_json(ITEM, "Lodge", URL)
    assert citations.render(csl, None, "en").startswith(
        "Student, S., Faculty, F. A., &amp; UNESCO. (2026). <i>On Moss</i>"
    )
    assert citations.style("no-such-style").key == "apa"
    citations.render(csl, "ieee", "en-GB")
    citations.render(csl, "ieee", "en-GB")
    assert citations._rendered.cache_info().hits >= 1  # the same citation is kept
    citations.render({**csl, "title": "Another"}, "ieee", "en-GB")
    assert citations._parsed.cache_info().hits >= 1  # another one reuses the parsed style
    assert citations.csl_locale("de") == "de-DE" and citations.csl_locale("xx") == "en-US"


def landing_links(files: int = 1, **changes) -> signposting.Landing:
    item = {**ITEM, **changes}
    page = "https://repo.example/items/i1"
    return signposting.Landing(
        item=item,
        page=page,
        cite_as=landing.doi_url(item["doi"]),
        linkset="https://repo.example/items/i1/linkset",
        files=[(f"https://repo.example/files/{n}", "application/pdf") for n in range(files)],
        metadata=[
            signposting.Described(
                "https://repo.example/items/i1/export/bibtex", "application/x-bibtex"
            )
        ],
    )


def test_the_landing_header_parses_as_fair_signposting():
    header = signposting.header(signposting.landing_header(landing_links()))
    found = find_signposting_http_link([header], "https://repo.example/items/i1")
    assert found.citeAs.target == "https://doi.org/10.1234/lodge.1"
    assert {a.target for a in found.authors} == {"https://orcid.org/0000-0002-1825-0097"}
    assert {(d.target, d.type) for d in found.describedBy} == {
        ("https://repo.example/items/i1/export/bibtex", "application/x-bibtex")
    }
    assert {(i.target, i.type) for i in found.items} == {
        ("https://repo.example/files/0", "application/pdf")
    }
    assert found.license.target == "https://creativecommons.org/licenses/by/4.0/"
    assert {t.target for t in found.types} == {
        "https://schema.org/Thesis",
        "https://schema.org/AboutPage",
    }
    assert {ls.type for ls in found.linksets} == {"application/linkset+json", "application/linkset"}


def test_a_header_names_at_most_ten_files_and_authors_the_linkset_names_all():
    people = [{"name": f"P{n} Q", "orcid": f"0000-0002-1825-{n:04d}"} for n in range(40)]
    many = landing_links(files=500, creators=people)
    header = signposting.header(signposting.landing_header(many))
    found = find_signposting_http_link([header], many.page)
    assert len(found.items) == signposting.HEADER_LIMIT == len(found.authors)
    assert len(header) < 4096  # what nginx's default proxy buffer takes
    links = signposting.linkset(many)
    assert sum(link.rel == "item" for link in links) == 500
    assert sum(link.rel == "collection" for link in links) == 500
    document = signposting.linkset_json(links)
    assert document["linkset"][0]["anchor"] == many.page
    assert len(document["linkset"][0]["author"]) == 40


def test_a_licence_that_is_no_url_or_would_break_the_header_is_made_safe_or_left_out():
    record = {
        **ITEM["record"],
        "rights": [
            "All rights reserved",
            'https://x.example/a>; rel="cite-as", <https://evil.example/',
            "javascript:alert(1)",
            "https://lizenz.example/grün licence",
        ],
    }
    assert signposting.licence({**ITEM, "record": record}) == (
        "https://x.example/a%3E;%20rel=%22cite-as%22,%20%3Chttps://evil.example/"
    )
    assert signposting.licence({**ITEM, "record": {"rights": record["rights"][3:]}}) == (
        "https://lizenz.example/gr%C3%BCn%20licence"
    )
    assert signposting.licence({**ITEM, "record": {"rights": record["rights"][:1]}}) is None
    header = signposting.header(signposting.landing_header(landing_links(record=record)))
    found = find_signposting_http_link([header], "https://repo.example/items/i1")
    assert found.citeAs.target == "https://doi.org/10.1234/lodge.1"  # still the one cite-as


def test_the_tombstone_keeps_only_its_identifier():
    links = signposting.tombstone_header("https://repo.example/id/ark:/99999/lodge-1")
    assert [link.rel for link in links] == ["cite-as", "type"]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, None),
        ("*/*", None),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None),
        ("application/x-bibtex", "bibtex"),
        ("application/x-bibtex;q=0.5, application/x-research-info-systems", "ris"),
        ("application/vnd.citationstyles.csl+json, text/html;q=0.1", "csl-json"),
        ("text/html;q=0.2, application/ld+json;q=0.9", "json-ld"),
        ("application/vnd.datacite.datacite+xml", "datacite-xml"),
        ("application/vnd.datacite.datacite+json", "datacite-json"),
        ("image/png", "406"),
        ("application/json", "application/json"),  # the REST API's view
        ("application/x-bibtex;q=0", "406"),
    ],
)
def test_negotiation_weighs_q_values(accept, chosen):
    app = Flask(__name__)
    with app.test_request_context(headers={"Accept": accept} if accept else {}):
        try:
            found = negotiation.negotiate()
        except negotiation.NotAcceptable:
            found = "406"
    assert (
        negotiation.BY_MEDIA_TYPE[found].key if found in negotiation.BY_MEDIA_TYPE else found
    ) == chosen
