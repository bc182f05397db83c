"""A patron's unfinished work against the site's limits."""

from __future__ import annotations

from marshmallow import fields

from kernel.contracts.fields import Lenient


class QuotaLimitView(Lenient):
    used = fields.Int(required=True)
    limit = fields.Int(required=True)


class QuotaUsageView(Lenient):
    """A patron's unfinished work against the site's limits."""

    drafts = fields.Nested(QuotaLimitView, required=True)
    staged_bytes = fields.Nested(QuotaLimitView, required=True)


class QuotaView(QuotaUsageView):
    """As the API shows it: staged bytes also count unfinished uploads' declared lengths."""

    uploads = fields.Nested(QuotaLimitView, required=True)
