"""Sitemaps: the public items' landing pages, in keyset parts of up to 50,000 URLs."""

from __future__ import annotations

from marshmallow import fields, validate

from kernel.contracts.fields import DateTime, Lenient, Strict

# the sitemaps.org protocol's most URLs in one file, and most files in one index
MOST_URLS = 50_000
PART_SIZE = fields.Int(required=True, validate=validate.Range(min=1, max=MOST_URLS))


class SitemapStateView(Lenient):
    """What a conditional request is answered by, cheaply: when the sitemaps last changed
    (the latest datestamp of any item, which a withdrawal moves too, or the latest collection
    made) and the collections, whose pages the sitemaps list too."""

    last_modified = DateTime(allow_none=True)
    collection_ids = fields.List(fields.Str(), required=True)


class SitemapSummaryRequest(Strict):
    part_size = PART_SIZE


class SitemapPartView(Lenient):
    items = fields.Int(required=True)
    lastmod = DateTime(required=True)  # the latest datestamp in the part


class SitemapSummaryView(Lenient):
    items = fields.Int(required=True)  # public items: landing pages of items not withdrawn
    parts = fields.List(fields.Nested(SitemapPartView), required=True)


class SitemapPartRequest(Strict):
    part = fields.Int(required=True, validate=validate.Range(min=1, max=MOST_URLS))
    part_size = PART_SIZE


class SitemapPageView(Lenient):
    """A part's items and their datestamps, as two lists of one length: 50,000 nested
    objects would cost a part three times the time to dump."""

    item_ids = fields.List(fields.Str(), required=True)
    datestamps = fields.List(DateTime(), required=True)
