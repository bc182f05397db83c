"""Dead letters: messages a service's handlers could not take, parked in its own database
for an administrator to look at, replay or drop."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate

from kernel.contracts.fields import DateTime, Lenient, Strict, Text, page_of
from kernel.contracts.rpc import ActorRequest

STATES = ("parked", "replayed", "dropped")
PARKED, REPLAYED, DROPPED = STATES
PAYLOAD_ENCODINGS = ("text", "base64")
MAX_QUEUE_NAME = 255


class DeadLetterFilters(Strict):
    """Which of a service's dead letters, a page of them, newest failure first."""

    state = fields.Str(load_default=PARKED, validate=validate.OneOf(STATES))
    reason = Text("label", load_default=None)
    """Words the reason contains (any case)."""
    queue = fields.Str(load_default=None, validate=validate.Length(max=MAX_QUEUE_NAME))
    failed_before = DateTime(load_default=None)
    failed_after = DateTime(load_default=None)
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))

    @post_load
    def in_utc(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """Times without an offset are UTC; one UTC cannot hold (year 1 east of it) is out."""
        for key in ("failed_before", "failed_after"):
            when = data.get(key)
            if when is not None:
                try:
                    data[key] = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
                except OverflowError:
                    raise ValidationError("is out of range", key) from None
        return data


class DeadLetterListRequest(ActorRequest, DeadLetterFilters):
    pass


class DeadLetterRequest(ActorRequest):
    letter_id = fields.Int(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class DropDeadLetterRequest(DeadLetterRequest):
    note = Text("reason", load_default="")
    """Why it is dropped, for the audit trail."""


class DeadLetterSummaryView(Lenient):
    id = fields.Int(required=True)
    service = fields.Str(required=True)
    queue = fields.Str(required=True)
    reason = fields.Str(required=True)
    state = fields.Str(required=True, validate=validate.OneOf(STATES))
    attempts = fields.Int(required=True)
    host = fields.Str(required=True)
    content_type = fields.Str(required=True)
    size = fields.Int(required=True)
    """The body's length in bytes."""
    preview = fields.Str(required=True)
    """The body's start, as text (undecodable bytes replaced)."""
    failed_at = DateTime(required=True)
    parked_at = DateTime(required=True)
    replays = fields.Int(required=True)
    replayed_by = fields.Str(allow_none=True)
    replayed_at = DateTime(allow_none=True)
    dropped_by = fields.Str(allow_none=True)
    dropped_at = DateTime(allow_none=True)
    drop_note = fields.Str(allow_none=True)


class DeadLetterView(DeadLetterSummaryView):
    """One dead letter with its payload: as text when the body is UTF-8, else base64."""

    payload = fields.Str(required=True)
    payload_encoding = fields.Str(required=True, validate=validate.OneOf(PAYLOAD_ENCODINGS))
    payload_truncated = fields.Bool(required=True)
    content_encoding = fields.Str(required=True)
    headers = fields.Dict(required=True)


class DeadLetterCountsView(Lenient):
    """How many letters a service holds in each state."""

    parked = fields.Int(required=True)
    replayed = fields.Int(required=True)
    dropped = fields.Int(required=True)


DeadLetterPageView = page_of(DeadLetterSummaryView)
