"""What crawlers and people meet outside the portal, on a running Lodge: robots.txt read by
a robots.txt parser, sitemaps valid against the sitemaps.org schemas (with the limit of URLs
per file lowered, so /sitemap.xml turns into an index) and answered conditionally, and the
links of the letters a deposit sends, followed to the pages they are for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import requests
from lxml import etree
from protego import Protego
from sqlalchemy import text

from kernel.platform.db import Database
from services.inventory.models import Item
from tests.e2e.test_lifecycles import letters_to
from tests.support.oai_schemas import assert_valid
from tests.support.system import LodgeSystem, poll_until, signed_in

URLS_PER_FILE = 6
SITEMAPS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
STUDENT_EMAIL = "student@example.edu"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
START = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def lodge():
    system = LodgeSystem(
        "postgresql", label="crawlers", extra_env={"LODGE_SITEMAP_URLS": str(URLS_PER_FILE)}
    )
    system.start()
    yield system
    system.stop()


@pytest.fixture(scope="module")
def inventory(lodge):
    database = Database(lodge.database_urls["inventory"], "inventory")
    yield database
    database.dispose()


def insert_items(inventory, names: list[str], start: datetime = START) -> None:
    with inventory.unit_of_work() as uow:
        for n, name in enumerate(names):
            moment = start + timedelta(hours=n)
            uow.session.add(
                Item(
                    id=name,
                    identifier=f"ark:/99999/{name}",
                    deposit_id=f"deposit-{name}",
                    revision=1,
                    collection_id="theses",
                    access="open",
                    record={"title": [name]},
                    created_at=moment,
                    datestamp=moment,
                )
            )


def fetch(lodge, path: str, schema: str, **headers) -> tuple[requests.Response, etree._Element]:
    response = requests.get(f"{lodge.base_url}{path}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/xml")
    return response, assert_valid(schema, response.content)


def urls(urlset: etree._Element) -> dict[str, str | None]:
    return {
        entry.findtext(f"{SITEMAPS}loc"): entry.findtext(f"{SITEMAPS}lastmod")
        for entry in urlset.iter(f"{SITEMAPS}url")
    }


def test_robots_txt_lets_crawlers_read_public_pages_and_files_only(lodge):
    response = requests.get(f"{lodge.base_url}/robots.txt", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    robots = Protego.parse(response.text)
    allowed = [
        "/",
        "/items/abc",
        "/id/ark:/99999/abc",
        "/collections",
        "/collections/theses?page=2",
        "/search",
        "/oai?verb=ListRecords&metadataPrefix=oai_openaire",
        "/api/v1/items/abc/files/def",
        "/static/lodge.css",
    ]
    refused = [
        "/staff/queue",
        "/staff/dashboard",
        "/deposits/new",
        "/deposits/abc",
        "/account/tokens",
        "/login",
        "/api/v1/deposits",
        "/api/v1/items/abc",
        "/api/v1/openapi.json",
        "/search?q=tides",
        "/metrics",
    ]
    for path in allowed:
        assert robots.can_fetch(f"{lodge.base_url}{path}", "AnyBot"), path
    for path in refused:
        assert not robots.can_fetch(f"{lodge.base_url}{path}", "AnyBot"), path
    assert list(robots.sitemaps) == [f"{lodge.base_url}/sitemap.xml"]


def test_the_sitemap_turns_into_an_index_past_its_limit(lodge, inventory):
    # the home page, /collections and the two seeded collections: one file
    _, urlset = fetch(lodge, "/sitemap.xml", "sitemap.xsd")
    pages = {
        f"{lodge.base_url}/",
        f"{lodge.base_url}/collections",
        f"{lodge.base_url}/collections/open-works",
        f"{lodge.base_url}/collections/theses",
    }
    assert set(urls(urlset)) == pages

    names = [f"public{n:02d}" for n in range(13)]
    insert_items(inventory, names)
    with inventory.unit_of_work() as uow:  # a tombstone is no page for a sitemap
        uow.session.get(Item, "public05").withdrawn_at = START
    public = [name for name in names if name != "public05"]

    response, index = fetch(lodge, "/sitemap.xml", "siteindex.xsd")
    assert index.tag == f"{SITEMAPS}sitemapindex"
    locations = [e.findtext(f"{SITEMAPS}loc") for e in index.iter(f"{SITEMAPS}sitemap")]
    # the pages, then the 12 items in parts of at most URLS_PER_FILE
    assert locations == [f"{lodge.base_url}/sitemaps/{n}.xml" for n in (1, 2, 3)]
    listed: dict[str, str | None] = {}
    for location in locations:
        _, part = fetch(lodge, location.removeprefix(lodge.base_url), "sitemap.xsd")
        entries = urls(part)
        assert 0 < len(entries) <= URLS_PER_FILE
        assert not set(entries) & set(listed)
        listed.update(entries)
    assert set(listed) == pages | {f"{lodge.base_url}/items/{name}" for name in public}
    for n, name in enumerate(names):
        if name in public:
            moment = START + timedelta(hours=n)
            assert listed[f"{lodge.base_url}/items/{name}"] == moment.isoformat()
    # every listed landing page is there
    assert requests.get(f"{lodge.base_url}/items/public12", timeout=30).status_code == 200

    for past in ("/sitemaps/4.xml", "/sitemaps/0.xml", "/sitemaps/99999999999999999999.xml"):
        assert requests.get(f"{lodge.base_url}{past}", timeout=30).status_code == 404
    for wrong in ("/sitemaps/-1.xml", "/sitemaps/one.xml", "/sitemaps/1.json"):
        assert requests.get(f"{lodge.base_url}{wrong}", timeout=30).status_code == 404
    assert response.headers["ETag"] and response.headers["Last-Modified"]


def test_an_unchanged_sitemap_is_not_sent_again(lodge, inventory):
    first = requests.get(f"{lodge.base_url}/sitemap.xml", timeout=30)
    assert first.status_code == 200 and "max-age=3600" in first.headers["Cache-Control"]
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        again = requests.get(f"{lodge.base_url}/sitemap.xml", headers=headers, timeout=30)
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
    part = requests.get(f"{lodge.base_url}/sitemaps/2.xml", timeout=30)
    assert part.headers["ETag"] != etag  # each file has its own
    assert (
        requests.get(
            f"{lodge.base_url}/sitemaps/2.xml",
            headers={"If-None-Match": part.headers["ETag"]},
            timeout=30,
        ).status_code
        == 304
    )
    # a new item changes every file's validator
    insert_items(inventory, ["later00"], start=datetime.now(UTC).replace(microsecond=0))
    changed = requests.get(
        f"{lodge.base_url}/sitemap.xml", headers={"If-None-Match": etag}, timeout=30
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert_valid("siteindex.xsd", changed.content)
    with inventory.unit_of_work() as uow:
        uow.session.execute(text("DELETE FROM items WHERE id = 'later00'"))


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def links_of(letter) -> set[str]:
    body = letter.get_body(("plain",)).get_content()
    parser = Links()
    parser.feed(letter.get_body(("html",)).get_content())
    return set(re.findall(r"https?://\S+", body)) | set(parser.hrefs)


def test_the_letters_of_a_deposit_link_pages_people_can_open(lodge):
    student = lodge.client("student")
    deposit = student.create_deposit(
        "open-works",
        {
            "title": "Letters that link pages",
            "creators": [{"name": "Sam Student"}],
            "abstract": "Links for people.",
            "date": "2026-04-01",
        },
    )
    student.upload(deposit["id"], "paper.pdf", PDF)
    student.submit(deposit["id"])
    archived = lodge.wait_for_status(student, deposit["id"], "archived", timeout=90)

    def both_letters():
        found = [
            m
            for m in letters_to(lodge.mail_dir, STUDENT_EMAIL)
            if "Letters that link pages" in m["Subject"]
        ]
        return found if len(found) >= 2 else None

    letters = poll_until(both_letters, timeout=30, description="the submitted and archived letters")
    assert len(letters) == 2
    browser = signed_in(lodge, "student")
    followed = set()
    for letter in letters:
        for link in links_of(letter):
            assert "/api/" not in link, f"{letter['Subject']} sends a person to {link}"
            assert link.startswith(lodge.base_url)
            page = browser.get(link, timeout=60)
            assert page.status_code == 200, link
            assert page.headers["Content-Type"].startswith("text/html"), link
            followed.add(page.url)
    # the archived letter's link: the persistent address, resolved to the landing page
    assert f"{lodge.base_url}/items/{archived['item_id']}" in followed
    assert f"{lodge.base_url}/deposits/{deposit['id']}" in followed
