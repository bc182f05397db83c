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
from collections.abc import Callable, Iterable
from datetime import datetime
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, request, url_for
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


def _answer(which: str, build: Callable[[dict], bytes]) -> Response:
    """`build(state)`'s XML, or 304 when the client's copy is still the one it would make."""
    with rpc() as services:
        state = services.inventory.sitemap_state()
    settings = get_settings()
    validator = [which, state, settings.site.sitemap_urls, settings.site.base_url]
    etag = hashlib.sha256(json.dumps(validator).encode()).hexdigest()[:32]
    modified = datetime.fromisoformat(state["last_modified"]) if state["last_modified"] else None
    if is_resource_modified(request.environ, etag=etag, last_modified=modified):
        response = Response(build(state), mimetype="application/xml")
    else:
        response = Response(status=304)
    response.set_etag(etag)
    response.last_modified = modified
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return response


Entry = tuple[str, str | None]  # loc, lastmod


def _document(root: str, child: str, entries: Iterable[Entry]) -> bytes:
    """A urlset or a sitemapindex, written as text: a part's 150,000 elements take lxml
    0.7 s and this a tenth of it. Every value is escaped."""
    lines = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{SITEMAPS}">']
    for loc, lastmod in entries:
        stamp = f"<lastmod>{escape(lastmod)}</lastmod>" if lastmod else ""
        lines.append(f"<{child}><loc>{escape(loc)}</loc>{stamp}</{child}>")
    lines.append(f"</{root}>\n")
    return "\n".join(lines).encode()


def _pages(state: dict) -> list[Entry]:
    return [
        (_absolute("portal.home"), None),
        (_absolute("public.collections"), None),
        *((_absolute("public.collection", collection_id=c), None) for c in state["collection_ids"]),
    ]


def _items(part: dict) -> Iterable[Entry]:
    # url_for once, not 50,000 times (a second): item ids are hex, safe in a path as they are
    prefix = _absolute("public.item", item_id="0").removesuffix("0")
    return zip((prefix + item_id for item_id in part["item_ids"]), part["datestamps"], strict=True)


@crawlers.get("/sitemap.xml")
def sitemap():
    limit = get_settings().site.sitemap_urls

    def build(state: dict) -> bytes:
        pages = _pages(state)
        with rpc() as services:
            summary = services.inventory.sitemap_summary(part_size=limit)
            if summary["items"] + len(pages) <= limit:
                items = (
                    _items(services.inventory.sitemap_part(part=1, part_size=limit))
                    if summary["items"]
                    else []
                )
                return _document("urlset", "url", [*pages, *items])
        lastmods = [state["last_modified"]] + [part["lastmod"] for part in summary["parts"]]
        return _document(
            "sitemapindex",
            "sitemap",
            (
                (_absolute("crawlers.sitemap_part", number=number), lastmod)
                for number, lastmod in enumerate(lastmods, start=1)
            ),
        )

    return _answer("sitemap", build)


@crawlers.get("/sitemaps/<int:number>.xml")
def sitemap_part(number):
    if not 1 <= number <= MOST_URLS + 1:  # an index holds at most MOST_URLS sitemaps
        abort(404)

    def build(state: dict) -> bytes:
        if number == 1:
            return _document("urlset", "url", _pages(state))
        # past the last part, inventory's NotFound is the 404 (gateway/http/errors.py)
        with rpc() as services:
            part = services.inventory.sitemap_part(
                part=number - 1, part_size=get_settings().site.sitemap_urls
            )
        return _document("urlset", "url", _items(part))

    return _answer(f"sitemaps/{number}", build)
