"""What crawlers read first: /robots.txt, and the sitemaps of the public pages.

/sitemap.xml lists the browse pages, each collection's page and the landing page of every
item not withdrawn, with its datestamp as lastmod. Past LODGE_SITEMAP_URLS addresses it
becomes a sitemap index: /sitemaps/1.xml holds the browse and collection pages and
/sitemaps/<n>.xml the items' keyset part n - 1 (inventory's `sitemap_part`). Every answer
carries an ETag and Last-Modified from inventory's cheap `sitemap_state`, which is asked
first: an unchanged sitemap costs a conditional request two index lookups.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, abort, request, url_for
from lxml import etree
from werkzeug.http import is_resource_modified

from gateway.rpc import rpc
from kernel.contracts.sitemaps import MOST_URLS
from kernel.platform.config import get_settings

crawlers = Blueprint("crawlers", __name__)
SITEMAPS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_AGE = 3600  # crawlers and caches may keep a sitemap an hour; a conditional GET is cheap
# Paths are prefixes (RFC 9309); the longest match wins, and for parsers that take the
# first match instead, each Allow comes before the Disallow it narrows.
ROBOTS = """\
# Public pages, the OAI-PMH interface and the files of items are for crawlers;
# the portal, the staff pages, accounts and the API are not.
User-agent: *
Allow: /api/v1/items/*/files/
Disallow: /api/
Disallow: /staff
Disallow: /deposits
Disallow: /account
Disallow: /login
Disallow: /logout
Disallow: /language
Disallow: /search?
Disallow: /healthz
Disallow: /readyz
Disallow: /metrics
Allow: /oai
Allow: /

Sitemap: {sitemap}
"""


def _absolute(endpoint: str, **values) -> str:
    return get_settings().site.base_url + url_for(endpoint, **values)


@crawlers.get("/robots.txt")
def robots():
    body = ROBOTS.format(sitemap=_absolute("crawlers.sitemap"))
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "public, max-age=86400"})


def _answer(which: str, build: Callable[[dict], etree._Element]) -> Response:
    """`build(state)`'s XML, or 304 when the client's copy is still the one it would make."""
    with rpc() as services:
        state = services.inventory.sitemap_state()
    settings = get_settings()
    validator = [which, state, settings.site.sitemap_urls, settings.site.base_url]
    etag = hashlib.sha256(json.dumps(validator).encode()).hexdigest()[:32]
    modified = datetime.fromisoformat(state["last_modified"]) if state["last_modified"] else None
    if is_resource_modified(request.environ, etag=etag, last_modified=modified):
        body = etree.tostring(build(state), xml_declaration=True, encoding="UTF-8")
        response = Response(body, mimetype="application/xml")
    else:
        response = Response(status=304)
    response.set_etag(etag)
    response.last_modified = modified
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return response


def _root(name: str) -> etree._Element:
    return etree.Element(f"{{{SITEMAPS}}}{name}", nsmap={None: SITEMAPS})


def _url(parent: etree._Element, loc: str, lastmod: str | None = None) -> None:
    entry = etree.SubElement(parent, f"{{{SITEMAPS}}}url")
    etree.SubElement(entry, f"{{{SITEMAPS}}}loc").text = loc
    if lastmod:
        etree.SubElement(entry, f"{{{SITEMAPS}}}lastmod").text = lastmod


def _pages(urlset: etree._Element, state: dict) -> None:
    _url(urlset, _absolute("portal.home"))
    _url(urlset, _absolute("public.collections"))
    for collection_id in state["collection_ids"]:
        _url(urlset, _absolute("public.collection", collection_id=collection_id))


def _items(urlset: etree._Element, entries: list[dict]) -> None:
    for entry in entries:
        _url(urlset, _absolute("public.item", item_id=entry["item_id"]), entry["datestamp"])


@crawlers.get("/sitemap.xml")
def sitemap():
    limit = get_settings().site.sitemap_urls

    def build(state: dict) -> etree._Element:
        with rpc() as services:
            summary = services.inventory.sitemap_summary(part_size=limit)
            pages = 2 + len(state["collection_ids"])
            if summary["items"] + pages <= limit:
                urlset = _root("urlset")
                _pages(urlset, state)
                if summary["items"]:
                    part = services.inventory.sitemap_part(part=1, part_size=limit)
                    _items(urlset, part["entries"])
                return urlset
        index = _root("sitemapindex")
        lastmods = [state["last_modified"]] + [part["lastmod"] for part in summary["parts"]]
        for number, lastmod in enumerate(lastmods, start=1):
            entry = etree.SubElement(index, f"{{{SITEMAPS}}}sitemap")
            etree.SubElement(entry, f"{{{SITEMAPS}}}loc").text = _absolute(
                "crawlers.sitemap_part", number=number
            )
            if lastmod:
                etree.SubElement(entry, f"{{{SITEMAPS}}}lastmod").text = lastmod
        return index

    return _answer("sitemap", build)


@crawlers.get("/sitemaps/<int:number>.xml")
def sitemap_part(number):
    if not 1 <= number <= MOST_URLS + 1:  # an index holds at most MOST_URLS sitemaps
        abort(404)

    def build(state: dict) -> etree._Element:
        urlset = _root("urlset")
        if number == 1:
            _pages(urlset, state)
            return urlset
        # past the last part, inventory's NotFound is the 404 (gateway/http/errors.py)
        with rpc() as services:
            part = services.inventory.sitemap_part(
                part=number - 1, part_size=get_settings().site.sitemap_urls
            )
        _items(urlset, part["entries"])
        return urlset

    return _answer(f"sitemaps/{number}", build)
