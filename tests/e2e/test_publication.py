"""Publication over HTTP against a running Lodge: landing pages for people and machines,
identifiers, access (embargo, campus), search, collections and the fixity audit."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from html.parser import HTMLParser

import psycopg2
import pytest

from tests.e2e.test_profiles_api import body, unique_id
from tests.support.system import expect, poll_until

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class LandingPage(HTMLParser):
    """The meta tags and JSON-LD blocks of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.meta: list[tuple[str, str]] = []
        self.json_ld: list[str] = []
        self.links: list[str] = []
        self._in_json_ld = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and attrs.get("name", "").startswith("citation_"):
            self.meta.append((attrs["name"], attrs["content"]))
        if tag == "script" and attrs.get("type") == "application/ld+json":
            self._in_json_ld = True
            self.json_ld.append("")
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_json_ld = False

    def handle_data(self, data):
        if self._in_json_ld:
            self.json_ld[-1] += data

    def values(self, name: str) -> list[str]:
        return [content for key, content in self.meta if key == name]


@pytest.fixture(scope="module")
def manager(lodge_system):
    return lodge_system.client("manager")


@pytest.fixture(scope="module")
def access_profiles(manager):
    """Profiles that approve automatically: campus only, and with an embargo to choose."""
    campus, embargo = unique_id("campus"), unique_id("embargo")
    automatic = {"approval": {"mode": "automatic"}, "file_rules": {"min_files": 1}}
    expect(manager.post("/api/v1/profiles", json=body(campus, access="campus", **automatic)), 201)
    expect(
        manager.post(
            "/api/v1/profiles",
            json=body(embargo, access="embargo", embargo_max_months=12, **automatic),
        ),
        201,
    )
    return {"campus": campus, "embargo": embargo}


def publish(
    lodge_system, metadata: dict, profile: str = "open-works", access=None, content: bytes = PDF
) -> dict:
    """Deposit as faculty and wait until it is in the repository; the item."""
    faculty = lodge_system.client("faculty")
    deposit = faculty.create_deposit(
        profile,
        {
            "abstract": "Made by the publication tests.",
            "date": "2026-05-01",
            "creators": [{"name": "Fran Faculty"}],
            **metadata,
        },
    )
    faculty.upload(deposit["id"], "paper.pdf", content)
    if access:
        expect(faculty.patch(f"/api/v1/deposits/{deposit['id']}", json={"access": access}), 200)
    faculty.submit(deposit["id"])
    archived = lodge_system.wait_for_status(faculty, deposit["id"], "archived", timeout=60)
    return expect(lodge_system.client().get(f"/api/v1/items/{archived['item_id']}"), 200)


def first_file(item: dict) -> dict:
    return item["representations"][0]["files"][0]


def download(client, item: dict, **kwargs):
    return client.get(f"/api/v1/items/{item['id']}/files/{first_file(item)['id']}", **kwargs)


def test_the_landing_page_speaks_to_people_and_to_scholar_and_schema_org(lodge_system):
    title = "Lichens </script><script>alert(1)</script> & mosses"
    item = publish(
        lodge_system,
        {
            "title": title,
            "keywords": ["lichens", "mosses"],
            "creators": [
                {"name": "Sam Student", "orcid": "0000-0002-1825-0097"},
                {"name": "Fran Faculty"},
            ],
        },
    )
    anonymous = lodge_system.client()
    response = anonymous.get(f"/items/{item['id']}", headers={"Accept": "text/html"})
    assert response.status_code == 200
    html = response.text
    page = LandingPage(response.text)

    assert page.values("citation_title") == [title]
    assert page.values("citation_author") == ["Student, Sam", "Faculty, Fran"]
    assert page.values("citation_publication_date") == ["2026/05/01"]
    assert page.values("citation_keywords") == ["lichens", "mosses"]
    [pdf_url] = page.values("citation_pdf_url")
    assert pdf_url.startswith(lodge_system.base_url)
    assert anonymous.get(pdf_url).content == PDF

    # JSON-LD: valid JSON, and the title cannot close the script element early
    [block] = page.json_ld
    assert "</script" not in block.lower()
    data = json.loads(block)
    assert data["@context"] == "https://schema.org" and data["name"] == title
    assert data["@type"] == "ScholarlyArticle"  # "Articles, datasets and other works"
    assert data["author"][0] == {
        "@type": "Person",
        "name": "Sam Student",
        "@id": "https://orcid.org/0000-0002-1825-0097",
        "sameAs": "https://orcid.org/0000-0002-1825-0097",
    }
    assert item["identifier"] in data["identifier"]
    assert data["encoding"][0]["contentUrl"] == pdf_url
    assert data["isAccessibleForFree"] is True

    assert "https://orcid.org/0000-0002-1825-0097" in page.links
    assert "Student, S., &amp; Faculty, F. (2026)." in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_identifiers_resolve_to_the_landing_page(lodge_system):
    item = publish(lodge_system, {"title": "Resolvable"})
    anonymous = lodge_system.client()
    anonymous.headers["Accept"] = "text/html"
    response = anonymous.get(f"/id/{item['identifier']}", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/items/{item['id']}")
    # the newer ARK spelling without the slash resolves too
    newer = item["identifier"].replace("ark:/", "ark:")
    assert anonymous.get(f"/id/{newer}", allow_redirects=False).status_code == 302
    missing = anonymous.get(
        "/id/ark:/99999/lodge-0000000000000000", headers={"Accept": "text/html"}
    )
    assert missing.status_code == 404 and "Unknown identifier" in missing.text


def test_embargoed_files_are_refused_before_the_date_and_served_after_it(
    lodge_system, access_profiles
):
    until = date.today() + timedelta(days=30)
    item = publish(
        lodge_system,
        {"title": "Embargoed"},
        access_profiles["embargo"],
        access={"policy": "embargo", "embargo_until": until.isoformat()},
    )
    anonymous, faculty = lodge_system.client(), lodge_system.client("faculty")
    assert item["access"] == "embargo"
    assert download(anonymous, item).status_code == 404
    assert download(faculty, item).status_code == 404
    page = anonymous.get(f"/items/{item['id']}", headers={"Accept": "text/html"}).text
    assert f"under embargo until {until.isoformat()}" in page
    assert "citation_pdf_url" not in page  # metadata visible, files hidden

    # the date passes (moved back in the database, as time would)
    connection = psycopg2.connect(lodge_system.database_urls["inventory"])
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "UPDATE items SET embargo_until = %s WHERE id = %s",
            (date.today() - timedelta(days=1), item["id"]),
        )
    connection.close()
    # the download checks the date itself...
    assert download(anonymous, item).content == PDF
    # ...and the timer opens the item for good
    opened = poll_until(
        lambda: (
            expect(anonymous.get(f"/api/v1/items/{item['id']}"), 200)
            if expect(anonymous.get(f"/api/v1/items/{item['id']}"), 200)["access"] == "open"
            else None
        ),
        timeout=60,
        description="the embargo lifted",
    )
    assert opened["embargo_lifted_at"]


def test_campus_files_need_sign_in_or_a_campus_address(lodge_system, access_profiles):
    item = publish(lodge_system, {"title": "Campus only"}, access_profiles["campus"])
    anonymous = lodge_system.client()
    assert download(anonymous, item).status_code == 404
    # through our trusted proxy (127.0.0.1) from a campus network
    assert download(anonymous, item, headers={"X-Forwarded-For": "10.20.30.40"}).content == PDF
    assert download(anonymous, item, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 404
    # a forged campus hop before an outside address does not help
    assert (
        download(anonymous, item, headers={"X-Forwarded-For": "10.0.0.1, 192.0.2.1"}).status_code
        == 404
    )
    assert download(lodge_system.client("student"), item).content == PDF
    page = anonymous.get(f"/items/{item['id']}", headers={"Accept": "text/html"}).text
    assert "open to members of the institution" in page


def test_search_by_words_year_and_collection(lodge_system):
    word = "zq" + uuid.uuid4().hex[:8]
    item = publish(
        lodge_system, {"title": f"Glaciers of {word}", "date": "2019-03-01", "keywords": ["ice"]}
    )
    anonymous = lodge_system.client()

    def ids(**params):
        return [
            hit["id"]
            for hit in expect(anonymous.get("/api/v1/search", params=params), 200)["items"]
        ]

    assert ids(q=word) == [item["id"]]
    assert ids(q=f"{word} ice", year=2019) == [item["id"]]
    assert ids(q=word, year=2020) == []
    assert ids(q=word, collection="open-works") == [item["id"]]
    assert ids(q=word, collection="theses") == []
    assert ids(q=f"faculty {word}") == [item["id"]]
    expect(anonymous.get("/api/v1/search", params={"year": "soon"}), 422)
    page = anonymous.get("/search", params={"q": word}, headers={"Accept": "text/html"}).text
    assert f"Glaciers of {word}" in page


def test_managers_manage_collections_and_nobody_else(lodge_system, manager):
    root, child = unique_id("col"), unique_id("sub")
    created = expect(
        manager.post(
            "/api/v1/collections",
            json={"id": root, "name": "Field studies", "description": "Work done outdoors."},
        ),
        201,
    )
    assert created["set_spec"] == root
    expect(
        manager.post("/api/v1/collections", json={"id": child, "name": "Bogs", "parent_id": root}),
        201,
    )
    assert expect(manager.get(f"/api/v1/collections/{child}"), 200)["set_spec"] == f"{root}:{child}"
    moved = expect(
        manager.patch(
            f"/api/v1/collections/{child}", json={"name": "Bogs and fens", "parent_id": None}
        ),
        200,
    )
    assert (moved["name"], moved["set_spec"]) == ("Bogs and fens", child)

    for username in ("student", "approver"):
        other = lodge_system.client(username)
        expect(other.post("/api/v1/collections", json={"id": unique_id(), "name": "X"}), 403)
        expect(other.patch(f"/api/v1/collections/{root}", json={"name": "Mine"}), 403)
        expect(other.delete(f"/api/v1/collections/{root}"), 403)
    expect(lodge_system.client().get("/api/v1/fixity"), 401)

    invalid = expect(manager.post("/api/v1/collections", json={"id": "Not OK", "name": ""}), 422)
    assert set(invalid["error"]["fields"]) == {"id", "name"}
    expect(manager.post("/api/v1/collections", json={"id": root, "name": "Again"}), 409)
    # a profile deposits into it: deleting it would strand approved deposits
    refused = expect(manager.delete("/api/v1/collections/open-works"), 409)
    assert "Articles, datasets and other works" in refused["error"]["message"]
    expect(manager.delete(f"/api/v1/collections/{child}"), 204)
    expect(manager.get(f"/api/v1/collections/{child}"), 404)


def test_the_fixity_audit_catches_a_corrupted_file(lodge_system):
    item = publish(
        lodge_system,
        {"title": "Soon corrupted"},
        content=PDF + b"% unique " + uuid.uuid4().hex.encode(),
    )
    stored = first_file(item)
    deposit_id = item["deposit_id"]
    path = lodge_system.data_dir / "storage" / "permanent" / deposit_id / stored["id"]
    assert path.read_bytes().startswith(PDF)
    path.write_bytes(b"%PDF-1.4 flipped bits")

    staff = lodge_system.client("staff")
    expect(lodge_system.client("student").post("/api/v1/fixity/audit"), 403)

    def caught():
        expect(staff.post("/api/v1/fixity/audit"), 200)
        report = expect(staff.get("/api/v1/fixity"), 200)
        return next((f for f in report["failures"] if f["file_id"] == stored["id"]), None)

    failure = poll_until(caught, timeout=60, description="the audit finding the corrupted file")
    assert failure["item_id"] == item["id"] and "expected" in failure["detail"]
    [log] = expect(staff.get(f"/api/v1/items/{item['id']}/events"), 200)["items"]
    assert [e["event_type"] for e in log["events"]][:2] == ["replication", "ingestion"]
    assert log["events"][-1]["outcome"] == "failure"
    assert log["fixity_status"] == "failed"
    expect(lodge_system.client("student").get(f"/api/v1/items/{item['id']}/events"), 403)
