"""Sitemaps are written as text for speed: every value is escaped and the file stays valid."""

from gateway.web.crawlers import _document
from tests.support.oai_schemas import assert_valid

SITEMAPS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_values_with_markup_characters_are_escaped_and_the_urlset_is_valid():
    loc = "https://r.example/a?b=1&c=<d>\"e'"
    root = assert_valid("sitemap.xsd", _document("urlset", "url", [(loc, "2026-01-02")]))
    assert root.findtext(f"{SITEMAPS}url/{SITEMAPS}loc") == loc
    assert root.findtext(f"{SITEMAPS}url/{SITEMAPS}lastmod") == "2026-01-02"


def test_an_index_without_lastmods_is_valid():
    entries = [(f"https://r.example/sitemaps/{n}.xml", None) for n in (1, 2)]
    root = assert_valid("siteindex.xsd", _document("sitemapindex", "sitemap", entries))
    assert [e.findtext(f"{SITEMAPS}loc") for e in root] == [loc for loc, _ in entries]
    assert root.find(f".//{SITEMAPS}lastmod") is None
