"""Usage statistics (COUNTER): the hits a gateway hands to inventory, and the figures it
keeps per item and month."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from kernel.contracts.fields import LOWER_CASE_ID, DateTime, Lenient, Strict
from kernel.contracts.rpc import ActorRequest
from kernel.policy.text import user_pattern

INVESTIGATION, REQUEST = "investigation", "request"
"""A view of a landing page, a download of a file (COUNTER's Investigations and Requests)."""
HIT_KINDS = (INVESTIGATION, REQUEST)
METRICS = (
    "Total_Item_Investigations",
    "Unique_Item_Investigations",
    "Total_Item_Requests",
    "Unique_Item_Requests",
)
MAX_BATCH = 5000
"""Hits one batch may carry."""
MAX_REPORT_MONTHS = 36
"""Months one report may span."""
MAX_TOP = 20
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
MONTH = validate.Regexp(MONTH_PATTERN, error="a month is written YYYY-MM")


def months_between(begin: str, end: str) -> int:
    """How many months `begin` to `end` (YYYY-MM, both counted) span."""
    (y1, m1), (y2, m2) = (map(int, begin.split("-")), map(int, end.split("-")))
    return (y2 - y1) * 12 + m2 - m1 + 1


class UsageHitSchema(Strict):
    """One view or download, as the gateway saw it: `user` is a keyed hash that changes
    every day, never an address or a user agent."""

    kind = fields.Str(required=True, validate=validate.OneOf(HIT_KINDS))
    item_id = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    file_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=32))
    user = fields.Str(required=True, validate=validate.Regexp(user_pattern(r"^[0-9a-f]{64}$")))
    at = DateTime(required=True)


class RecordUsageRequest(Strict):
    batch_id = fields.Str(required=True, validate=validate.Regexp(user_pattern(r"^[0-9a-f]{32}$")))
    hits = fields.List(
        fields.Nested(UsageHitSchema), required=True, validate=validate.Length(max=MAX_BATCH)
    )


class RecordedUsageView(Lenient):
    counted = fields.Int(required=True)  # hits that counted (robots are left at the gateway)
    repeated = fields.Bool(required=True)  # the batch was recorded before: nothing changed


class UsageTotalsSchema(Lenient):
    """An item's figures of all time, for its landing page."""

    views = fields.Int(required=True)  # Total_Item_Investigations
    downloads = fields.Int(required=True)  # Total_Item_Requests


class UsagePeriodSchema(Strict):
    """The months a report covers, both included, and the collection it is about, if one."""

    begin = fields.Str(required=True, validate=MONTH)
    end = fields.Str(required=True, validate=MONTH)
    collection = fields.Str(load_default=None, allow_none=True, validate=LOWER_CASE_ID)

    @validates_schema
    def _span(self, data: dict[str, Any], **kwargs: Any) -> None:
        span = months_between(data["begin"], data["end"])
        if span < 1:
            raise ValidationError("comes before begin", "end")
        if span > MAX_REPORT_MONTHS:
            raise ValidationError(f"a report spans at most {MAX_REPORT_MONTHS} months", "end")


class UsageReportRequest(ActorRequest, UsagePeriodSchema):
    pass


class MonthFiguresSchema(Lenient):
    month = fields.Str(required=True)
    figures = fields.Dict(keys=fields.Str(validate=validate.OneOf(METRICS)), values=fields.Int())


class ItemUsageRowSchema(Lenient):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    doi = fields.Str(allow_none=True)
    title = fields.Str(required=True)
    creators = fields.List(fields.Str(), required=True)
    year = fields.Int(allow_none=True)
    access = fields.Str(required=True)
    resource_type = fields.Str(required=True)
    collection = fields.Str(required=True)
    months = fields.List(fields.Nested(MonthFiguresSchema), required=True)


class UsageReportView(Lenient):
    begin = fields.Str(required=True)
    end = fields.Str(required=True)
    collection = fields.Str(allow_none=True)
    items = fields.List(fields.Nested(ItemUsageRowSchema), required=True)


class TopItemsRequest(ActorRequest):
    limit = fields.Int(load_default=5, validate=validate.Range(min=1, max=MAX_TOP))


class RankedItemSchema(Lenient):
    item_id = fields.Str(required=True)
    title = fields.Str(required=True)
    count = fields.Int(required=True)


class CollectionTopItemsView(Lenient):
    collection = fields.Str(required=True)
    name = fields.Str(required=True)
    most_viewed = fields.List(fields.Nested(RankedItemSchema), required=True)
    most_downloaded = fields.List(fields.Nested(RankedItemSchema), required=True)
