"""Links and formats machines understand, against a running Lodge: FAIR Signposting on the
landing page, its files and its metadata (read by the `signposting` package), the linkset
in both serialisations, content negotiation on the page and the identifier, exports parsed
by a library for each, hostile metadata, and a tombstone's links."""

from __future__ import annotations

import copy
import json

import bibtexparser
import jsonschema
import pytest
import rispy
from lxml import etree
from pyld import jsonld
from signposting import find_signposting_http, find_signposting_linkset
from signposting.linkheader import find_signposting_http_link

from services.intake.seed import COMMON_FIELDS
from tests.e2e.test_profiles_api import body, unique_id
from tests.e2e.test_publication import (  # noqa: F401
    access_profiles,
    first_file,
    manager,
    publish,
)
from tests.support.system import expect
from tests.unit.test_exports import CSL_SCHEMA, schema_org_only

LICENCE = "https://creativecommons.org/licenses/by/4.0/"
ORCID = "0000-0002-1825-0097"
DATACITE = "{http://datacite.org/schema/kernel-4}"
DATACITE_JSON = "application/vnd.datacite.datacite+json"
PARSED = {
    "application/vnd.datacite.datacite+xml": "datacite-xml",
    "application/ld+json": "json-ld",
    "application/vnd.citationstyles.csl+json": "csl-json",
    "application/x-bibtex": "bibtex",
    "application/x-research-info-systems": "ris",
}
MEDIA_TYPES = [*PARSED, DATACITE_JSON]


def titles(media_type: str, content: bytes) -> list[str]:
    """The titles the export holds, read by a parser for its format (and checked by its
    schema where it has one)."""
    if media_type == "application/vnd.datacite.datacite+xml":
        root = etree.fromstring(content, etree.XMLParser(no_network=True))
        assert root.find(f"{DATACITE}identifier") is not None
        return [t.text for t in root.iter(f"{DATACITE}title")]
    if media_type == DATACITE_JSON:
        return [t["title"] for t in json.loads(content)["titles"]]
    if media_type == "application/ld+json":
        [expanded] = jsonld.expand(json.loads(content), {"documentLoader": schema_org_only})
        return [v["@value"] for v in expanded["https://schema.org/name"]]
    if media_type == "application/vnd.citationstyles.csl+json":
        data = json.loads(content)
        jsonschema.validate(data, CSL_SCHEMA)
        return [data[0]["title"]]
    if media_type == "application/x-bibtex":
        library = bibtexparser.parse_string(content.decode())
        assert not library.failed_blocks
        return [entry.fields_dict["title"].value for entry in library.entries]
    return [entry["title"] for entry in rispy.loads(content.decode())]


@pytest.fixture(scope="module")
def licensed_profile(manager):
    """Automatic approval, and a licence field mapped to dc:rights."""
    profile_id = unique_id("licensed")
    fields = copy.deepcopy(COMMON_FIELDS) + [
        {"key": "licence", "label": "Licence", "type": "url", "dc": "rights"}
    ]
    expect(
        manager.post(
            "/api/v1/profiles",
            json=body(
                profile_id,
                fields=fields,
                approval={"mode": "automatic"},
                file_rules={"min_files": 1, "max_files": 3},
                resource_type="dataset",
            ),
        ),
        201,
    )
    return profile_id


@pytest.fixture(scope="module")
def item(lodge_system, licensed_profile):
    return publish(
        lodge_system,
        {
            "title": "Tide gauges of the Wadden Sea",
            "creators": [{"name": "Sam Student", "orcid": ORCID}, {"name": "Fran Faculty"}],
            "licence": LICENCE,
            "keywords": ["tides"],
        },
        licensed_profile,
    )


def urls(lodge_system, item: dict) -> dict[str, str]:
    base = lodge_system.base_url
    return {
        "page": f"{base}/items/{item['id']}",
        "identifier": f"{base}/id/{item['identifier']}",
        # the e2e Lodge registers DOIs, and an item is cited by its DOI where it has one
        "cite_as": f"https://doi.org/{item['doi']}"
        if item.get("doi")
        else f"{base}/id/{item['identifier']}",
        "linkset": f"{base}/items/{item['id']}/linkset",
        "file": f"{base}/api/v1/items/{item['id']}/files/{first_file(item)['id']}",
    }


def test_the_landing_page_its_file_and_its_metadata_carry_fair_signposting(lodge_system, item):
    at = urls(lodge_system, item)
    found = find_signposting_http(at["page"])  # the package's own HEAD request
    assert found.citeAs.target == at["cite_as"]
    assert {a.target for a in found.authors} == {f"https://orcid.org/{ORCID}"}
    assert {(i.target, i.type) for i in found.items} == {(at["file"], "application/pdf")}
    assert found.license.target == LICENCE
    assert {t.target for t in found.types} == {
        "https://schema.org/Dataset",
        "https://schema.org/AboutPage",
    }
    assert {ls.type for ls in found.linksets} == {"application/linkset+json", "application/linkset"}
    described = {d.type: d.target for d in found.describedBy}
    assert set(described) == {*PARSED, DATACITE_JSON}

    anonymous = lodge_system.client()
    file_links = find_signposting_http(at["file"])
    assert file_links.collection.target == at["page"]
    assert {ls.target for ls in file_links.linksets} == {at["linkset"]}
    for media_type, url in described.items():
        response = anonymous.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["Content-Type"].startswith(media_type)
        assert titles(media_type, response.content) == ["Tide gauges of the Wadden Sea"]
        assert find_signposting_http(url).for_context(url).describes
        assert "attachment; filename=" in response.headers["Content-Disposition"]


def test_the_linkset_says_the_same_as_json_and_as_text(lodge_system, item):
    at = urls(lodge_system, item)

    def links(found):
        return {(s.rel, s.target, s.type, s.context) for s in found}

    as_json = find_signposting_linkset(at["linkset"])  # JSON preferred
    as_text = find_signposting_linkset(at["linkset"], "application/linkset")
    assert links(as_json) == links(as_text)
    landing = as_json.for_context(at["page"])
    assert landing.citeAs.target == at["cite_as"]
    assert landing.license.target == LICENCE
    assert as_json.for_context(at["file"]).collection.target == at["page"]

    anonymous = lodge_system.client()
    by_query = anonymous.get(at["linkset"], params={"format": "text"})
    assert by_query.headers["Content-Type"].startswith("application/linkset")
    assert "Accept" in by_query.headers["Vary"]
    assert f'rel="cite-as"; anchor="{at["page"]}"' in by_query.text
    refused = expect(anonymous.get(at["linkset"], headers={"Accept": "image/png"}), 406)
    assert refused["error"]["fields"]["Accept"] == [
        "application/linkset+json",
        "application/linkset",
    ]
    bad = expect(anonymous.get(at["linkset"], params={"format": "x" * 300}), 422)
    assert bad["error"]["fields"]["format"]
    expect(anonymous.get("/items/no-such-item/linkset", headers={"Accept": "*/*"}), 404)


@pytest.mark.parametrize("media_type", MEDIA_TYPES)
def test_each_format_by_accept_on_the_page_and_on_the_identifier(lodge_system, item, media_type):
    at = urls(lodge_system, item)
    anonymous = lodge_system.client()
    direct = anonymous.get(at["page"], headers={"Accept": media_type})
    assert direct.status_code == 200, direct.text
    assert direct.headers["Content-Type"].startswith(media_type)
    assert "Accept" in direct.headers["Vary"]
    export_url = direct.headers["Content-Location"]
    assert export_url.startswith(f"{at['page']}/export/")
    assert titles(media_type, direct.content) == ["Tide gauges of the Wadden Sea"]

    redirected = anonymous.get(
        at["identifier"], headers={"Accept": media_type}, allow_redirects=False
    )
    assert redirected.status_code == 303 and "Accept" in redirected.headers["Vary"]
    assert redirected.headers["Location"] == export_url
    assert anonymous.get(export_url).content == direct.content


def test_q_values_html_and_what_is_not_offered(lodge_system, item):
    at = urls(lodge_system, item)
    anonymous = lodge_system.client()
    preferred = anonymous.get(
        at["page"],
        headers={"Accept": "application/x-bibtex;q=0.4, application/x-research-info-systems"},
    )
    assert preferred.headers["Content-Type"].startswith("application/x-research-info-systems")
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = anonymous.get(at["page"], headers={"Accept": browser})
    assert page.headers["Content-Type"].startswith("text/html") and "Vary" in page.headers
    to_page = anonymous.get(at["identifier"], headers={"Accept": "*/*"}, allow_redirects=False)
    assert to_page.status_code == 302 and to_page.headers["Location"].endswith(item["id"])
    for url in (at["page"], at["identifier"]):
        # plain JSON is the REST API's view of the item
        to_api = anonymous.get(url, headers={"Accept": "application/json"}, allow_redirects=False)
        assert to_api.status_code == 303
        assert to_api.headers["Location"].endswith(f"/api/v1/items/{item['id']}")
        for accept in ("image/png;q=1, text/html;q=0", "x/" * 300):
            refused = expect(anonymous.get(url, headers={"Accept": accept}), 406)
            assert "application/x-bibtex" in refused["error"]["fields"]["Accept"]
    expect(anonymous.get(f"{at['page']}/export/docx"), 404)
    expect(anonymous.get("/items/no-such-item/export/ris"), 404)
    expect(anonymous.get("/items/no-such-item", headers={"Accept": "application/x-bibtex"}), 404)


def test_hostile_metadata_comes_out_escaped_and_parses_in_every_format(lodge_system):
    title = 'Braces {unbalanced "quotes" \\emph{x} 100% & $5 </script><b>b</b> тундра 苔藓 مستنقع'
    title += " long" * ((500 - len(title)) // 5)
    item = publish(
        lodge_system,
        {
            "title": title,
            "abstract": "One line\nER  - \nTY  - JOUR\n@misc{evil,\n}",
            "creators": [{"name": "Smith and Wesson, Jo {x}"}, {"name": "中村 美咲"}],
            "keywords": ["a}b", "c,d"],
        },
    )
    anonymous = lodge_system.client()
    for media_type in PARSED:
        response = anonymous.get(f"/items/{item['id']}", headers={"Accept": media_type})
        assert response.status_code == 200, (media_type, response.text)
        [found] = titles(media_type, response.content)
        assert "тундра 苔藓 مستنقع" in found
        if media_type == "application/x-research-info-systems":
            assert [line for line in response.text.splitlines() if line.startswith("ER")] == [
                "ER  - "
            ]
    html = anonymous.get(f"/items/{item['id']}", headers={"Accept": "text/html"}).text
    assert "<b>b</b>" not in html and "&lt;b&gt;b&lt;/b&gt;" in html


def test_a_doi_becomes_the_cite_as_and_appears_in_every_export(lodge_system):
    item = publish(lodge_system, {"title": "Registered"})
    doi = item["doi"]  # minted with the item: the e2e Lodge registers DOIs
    assert doi
    at = urls(lodge_system, item)
    assert find_signposting_http(at["page"]).citeAs.target == f"https://doi.org/{doi}"
    anonymous = lodge_system.client()
    for key in ("bibtex", "ris", "csl-json", "json-ld", "datacite-xml", "datacite-json"):
        assert doi in anonymous.get(f"{at['page']}/export/{key}").text, key


def test_a_tombstone_keeps_its_identifier_and_offers_nothing_else(lodge_system, manager):
    item = publish(lodge_system, {"title": "Soon withdrawn"})
    expect(
        manager.post(
            f"/api/v1/items/{item['id']}/actions/withdraw", json={"reason": "Duplicate record"}
        ),
        200,
    )
    at = urls(lodge_system, item)
    anonymous = lodge_system.client()
    page = anonymous.get(at["page"], headers={"Accept": "text/html"})
    assert page.status_code == 410
    found = find_signposting_http(at["page"])
    assert found.citeAs.target == at["cite_as"]
    assert {t.target for t in found.types} == {"https://schema.org/AboutPage"}
    assert not (found.items or found.describedBy or found.authors or found.linksets)
    expect(anonymous.get(f"{at['page']}/export/bibtex"), 410)
    expect(anonymous.get(at["page"], headers={"Accept": "application/x-bibtex"}), 410)
    expect(anonymous.get(at["linkset"], headers={"Accept": "*/*"}), 410)
    expect(anonymous.get(at["identifier"], headers={"Accept": "application/x-bibtex"}), 410)


def test_files_the_reader_may_not_get_are_not_signposted(lodge_system, access_profiles):
    item = publish(lodge_system, {"title": "Campus signposts"}, access_profiles["campus"])
    at = urls(lodge_system, item)
    anonymous = lodge_system.client()

    def items(headers):
        response = anonymous.get(at["page"], headers={"Accept": "text/html", **headers})
        found = find_signposting_http_link([response.headers["Link"]], at["page"])
        linkset = anonymous.get(at["linkset"], headers={"Accept": "*/*", **headers})
        linkset = expect(linkset, 200)["linkset"]
        return {i.target for i in found.items}, linkset[0].get("item", [])

    assert items({}) == (set(), [])
    on_campus = items({"X-Forwarded-For": "10.20.30.40"})  # through the trusted proxy
    assert on_campus[0] == {at["file"]} and on_campus[1] == [
        {"href": at["file"], "type": "application/pdf"}
    ]


@pytest.mark.parametrize("item_id", ["x" * 2000, "%00", "..%2F..%2Fetc", "%F0%9F%92%A9"])
def test_hostile_item_ids_are_refused_or_not_found(lodge_system, item_id):
    anonymous = lodge_system.client()
    for path in ("linkset", "export/ris"):
        response = anonymous.get(f"/items/{item_id}/{path}", headers={"Accept": "*/*"})
        # a NUL is refused as text (422); a path that climbs out matches no route (404)
        assert response.status_code in (404, 422), (path, response.status_code)
        if response.headers["Content-Type"].startswith("application/json"):
            assert response.json()["error"]["code"] in ("not_found", "invalid_input")
