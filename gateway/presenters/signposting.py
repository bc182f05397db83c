"""FAIR Signposting (signposting.org/FAIR, levels 1 and 2): typed links from a landing
page to its persistent identifier, authors, metadata, files, licence and type, and back
from each file and metadata record to the landing page.

Level 1 is the `Link` header: on the landing page, on each file and on each metadata
export. Level 2 is the linkset (RFC 9264): every link of the landing page, its files and
its metadata in one document, as JSON (`application/linkset+json`) or as Link-header
text (`application/linkset`). A header lists at most `HEADER_LIMIT` authors and files
(Signposting's advice: many files belong in the linkset only), so a work with a thousand
files or authors cannot grow a header past what proxies accept; the linkset lists all.

Every target is an absolute URI made safe for a header: characters outside RFC 3986 are
percent-encoded, so a licence URL from a record cannot break out of `<...>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from gateway.presenters.landing import creators
from kernel.contracts import resource_types

SCHEMA_ORG = "https://schema.org/"
HTML = "text/html"
LINKSET_JSON = "application/linkset+json"
LINKSET_TEXT = "application/linkset"
HEADER_LIMIT = 10  # authors, and files, named in a Link header
MAX_URI = 2000
# RFC 3986's reserved and unreserved characters, and `%` of what is encoded already
_URI_SAFE = ":/?#[]@!$&'()*+,;=-._~%"


@dataclass(frozen=True)
class Link:
    href: str
    rel: str
    type: str | None = None
    anchor: str | None = None  # the link's context, when it is not the resource answering

    def header_value(self) -> str:
        value = f'<{self.href}>; rel="{self.rel}"'
        if self.type:
            value += f'; type="{self.type}"'
        if self.anchor:
            value += f'; anchor="{self.anchor}"'
        return value


@dataclass(frozen=True)
class Described:
    """One metadata format of the item: where it is and what media type it has."""

    url: str
    media_type: str


@dataclass(frozen=True)
class Landing:
    """What the links of one item are made of: its URLs, the files the reader may get
    (url, media type) and its metadata formats."""

    item: dict
    page: str  # the landing page
    cite_as: str  # the DOI's URL, else the identifier's resolver URL
    linkset: str
    files: list[tuple[str, str]]
    metadata: list[Described]


def safe_uri(value: str) -> str | None:
    """An absolute http(s) URI fit for a header, or None when `value` is not one."""
    quoted = quote(value.strip(), safe=_URI_SAFE)
    parts = urlsplit(quoted)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(quoted) > MAX_URI:
        return None
    return quoted


def _schema_type(item: dict) -> str:
    return SCHEMA_ORG + resource_types.get(item.get("resource_type")).schema_org


def licence(item: dict) -> str | None:
    """The first of the record's rights statements that is a URL (a Creative Commons
    licence, say); Signposting has one licence per resource."""
    found = (safe_uri(value) for value in item["record"].get("rights", []))
    return next((uri for uri in found if uri), None)


def authors(item: dict) -> list[str]:
    found = [safe_uri(creator.orcid_url) for creator in creators(item) if creator.orcid_url]
    return [uri for uri in found if uri]


def _landing_links(landing: Landing, limit: int | None) -> list[Link]:
    item = landing.item
    links = [Link(landing.cite_as, "cite-as")]
    links += [Link(uri, "author") for uri in authors(item)[:limit]]
    links += [Link(d.url, "describedby", d.media_type) for d in landing.metadata]
    links += [Link(url, "item", media_type) for url, media_type in landing.files[:limit]]
    links += [Link(uri, "license") for uri in filter(None, [licence(item)])]
    links += [Link(_schema_type(item), "type"), Link(SCHEMA_ORG + "AboutPage", "type")]
    return links


def landing_header(landing: Landing) -> list[Link]:
    """The landing page's Link header: level 1, with its linkset."""
    return _landing_links(landing, HEADER_LIMIT) + linkset_links(landing.linkset)


def linkset_links(linkset: str) -> list[Link]:
    return [Link(linkset, "linkset", LINKSET_JSON), Link(linkset, "linkset", LINKSET_TEXT)]


def tombstone_header(cite_as: str) -> list[Link]:
    """A withdrawn item keeps its identifier and nothing else: no files, no metadata."""
    return [Link(cite_as, "cite-as"), Link(SCHEMA_ORG + "AboutPage", "type")]


def file_header(page: str, linkset: str) -> list[Link]:
    """A file's Link header: the landing page it belongs to."""
    return [Link(page, "collection", HTML), *linkset_links(linkset)]


def metadata_header(page: str, linkset: str) -> list[Link]:
    """A metadata record's Link header: the landing page it describes."""
    return [Link(page, "describes", HTML), *linkset_links(linkset)]


def header(links: Iterable[Link]) -> str:
    return ", ".join(link.header_value() for link in links)


def linkset(landing: Landing) -> list[Link]:
    """Level 2: every link, each with its anchor."""
    links = [
        Link(link.href, link.rel, link.type, landing.page) for link in _landing_links(landing, None)
    ]
    for url, _media_type in landing.files:
        links.append(Link(landing.page, "collection", HTML, url))
    for described in landing.metadata:
        links.append(Link(landing.page, "describes", HTML, described.url))
    return links


def linkset_json(links: list[Link]) -> dict:
    """RFC 9264 JSON: one context object per anchor, in the order they first appear."""
    contexts: dict[str, dict] = {}
    for link in links:
        context = contexts.setdefault(link.anchor or "", {"anchor": link.anchor})
        target = {"href": link.href, **({"type": link.type} if link.type else {})}
        context.setdefault(link.rel, []).append(target)
    return {"linkset": list(contexts.values())}


def linkset_text(links: list[Link]) -> str:
    """RFC 9264 `application/linkset`: Link-header syntax, a link a line."""
    return ",\n".join(link.header_value() for link in links) + "\n"
