"""The events services publish, each checked against its contract when it is made.

Adding an optional field keeps CONTRACT_VERSION; anything else bumps it.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from marshmallow import fields, validate

from kernel.contracts.approval import DecisionSchema
from kernel.contracts.campus import OriginSchema
from kernel.contracts.deposits import STATUSES, DepositSnapshotSchema
from kernel.contracts.fields import Date, DateTime, Lenient
from kernel.contracts.letters import ReviewRuleSchema
from kernel.contracts.people import PersonRefSchema
from kernel.contracts.validation import ValidationReportSchema

CONTRACT_VERSION = "1"


class EventEnvelope(Lenient):
    event_id = fields.Str(required=True)
    schema_version = fields.Str(required=True, validate=validate.Equal(CONTRACT_VERSION))
    occurred_at = DateTime(required=True)
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)

    dedupe_fields: tuple[str, ...] = ()


class DepositSubmittedEvent(EventEnvelope):
    deposit = fields.Nested(DepositSnapshotSchema, required=True)


class DepositWithdrawnEvent(EventEnvelope):
    actor = fields.Nested(PersonRefSchema, required=True)


class DepositStatusChangedEvent(EventEnvelope):
    from_status = fields.Str(allow_none=True)
    to_status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    actor = fields.Nested(PersonRefSchema, required=True)
    reason_code = fields.Str(allow_none=True, load_default=None)
    # the reason's label when it was given: what the depositor was told, even if relabelled
    reason_label = fields.Str(allow_none=True, load_default=None)
    note = fields.Str(allow_none=True, load_default=None)
    title = fields.Str(load_default="")
    depositor = fields.Nested(PersonRefSchema, required=True)
    item_id = fields.Str(allow_none=True, load_default=None)
    item_identifier = fields.Str(allow_none=True, load_default=None)
    item_doi = fields.Str(allow_none=True, load_default=None)
    report = fields.Nested(ValidationReportSchema, allow_none=True, load_default=None)
    # the staff member who deposited on the depositor's behalf, on every step of such a deposit
    mediated_by = fields.Nested(PersonRefSchema, allow_none=True, load_default=None)
    review = fields.Nested(lambda: ReviewRuleSchema(), allow_none=True, load_default=None)
    # the campus system's request that made the deposit: its lifecycle reaches the system
    origin = fields.Nested(OriginSchema, allow_none=True, load_default=None)

    dedupe_fields = ("to_status",)


class DepositValidatedEvent(EventEnvelope):
    passed = fields.Bool(required=True)
    report = fields.Nested(ValidationReportSchema, required=True)
    deposit = fields.Nested(DepositSnapshotSchema, required=True)


class DepositDecidedEvent(EventEnvelope):
    decision = fields.Nested(DecisionSchema, required=True)
    deposit = fields.Nested(DepositSnapshotSchema, required=True)


class ItemCreatedEvent(EventEnvelope):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    collection = fields.Str(required=True)
    decision = fields.Nested(DecisionSchema, required=True)
    doi = fields.Str(allow_none=True, load_default=None)  # minted with the item, when DOIs are on


class LetterOutcomeEvent(EventEnvelope):
    letter_id = fields.Str(required=True)
    letter_type = fields.Str(required=True)
    recipient = fields.Str(required=True)
    error = fields.Str(allow_none=True, load_default=None)

    dedupe_fields = ("letter_id",)


class FixityFailedEvent(EventEnvelope):
    """A permanent file no longer matches its checksum, or is missing."""

    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    file_id = fields.Str(required=True)
    filename = fields.Str(required=True)
    detail = fields.Str(required=True)

    dedupe_fields = ("event_id",)


class DraftExpiringEvent(EventEnvelope):
    """An untouched draft will be removed with its files at `expires_at` unless touched."""

    title = fields.Str(load_default="")
    depositor = fields.Nested(PersonRefSchema, required=True)
    expires_at = DateTime(required=True)

    dedupe_fields = ("expires_at",)


class EmbargoLiftedEvent(EventEnvelope):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    embargo_until = Date(required=True)

    dedupe_fields = ("item_id",)


class ItemWithdrawnEvent(EventEnvelope):
    """A manager took an item out of the repository; it remains as a tombstone."""

    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    reason = fields.Str(required=True)
    actor = fields.Nested(PersonRefSchema, required=True)

    dedupe_fields = ("item_id",)


class DoiSyncRequestedEvent(EventEnvelope):
    """Inventory to itself: send the item's current metadata to DataCite for this DOI (after
    the item was made, changed or withdrawn); the handler retries until DataCite takes it."""

    item_id = fields.Str(required=True)
    doi = fields.Str(required=True)

    dedupe_fields = ("event_id",)


class ItemCorrectedEvent(EventEnvelope):
    """A manager corrected an archived item's metadata; `elements` names what changed."""

    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    reason = fields.Str(required=True)
    elements = fields.List(fields.Str(), required=True)
    actor = fields.Nested(PersonRefSchema, required=True)

    dedupe_fields = ("event_id",)


EVENTS: dict[tuple[str, str], type[EventEnvelope]] = {
    ("intake", "deposit_submitted"): DepositSubmittedEvent,
    ("intake", "deposit_withdrawn"): DepositWithdrawnEvent,
    ("intake", "deposit_status_changed"): DepositStatusChangedEvent,
    ("intake", "draft_expiring"): DraftExpiringEvent,
    ("validation", "deposit_validated"): DepositValidatedEvent,
    ("approval", "deposit_approved"): DepositDecidedEvent,
    ("approval", "deposit_declined"): DepositDecidedEvent,
    ("approval", "deposit_returned"): DepositDecidedEvent,
    ("inventory", "item_created"): ItemCreatedEvent,
    ("inventory", "fixity_failed"): FixityFailedEvent,
    ("inventory", "embargo_lifted"): EmbargoLiftedEvent,
    ("inventory", "item_withdrawn"): ItemWithdrawnEvent,
    ("inventory", "doi_sync_requested"): DoiSyncRequestedEvent,
    ("inventory", "item_corrected"): ItemCorrectedEvent,
    ("letters", "letter_sent"): LetterOutcomeEvent,
    ("letters", "letter_failed"): LetterOutcomeEvent,
}


@functools.cache
def event_schema(source: str, event_type: str) -> EventEnvelope:
    """One shared instance per event: building a schema costs more than using it."""
    try:
        return EVENTS[(source, event_type)]()
    except KeyError:
        raise LookupError(f"no contract for event {source}.{event_type}") from None


def new_event(source: str, event_type: str, **payload: Any) -> dict[str, Any]:
    """A JSON-ready event payload, checked against its contract."""
    payload.setdefault("event_id", uuid.uuid4().hex)
    payload.setdefault("schema_version", CONTRACT_VERSION)
    payload.setdefault("occurred_at", datetime.now(UTC))
    schema = event_schema(source, event_type)
    dumped = schema.dump(payload)
    errors = schema.validate(dumped)
    if errors:
        raise ValueError(f"{source}.{event_type} breaks its contract: {errors}")
    return cast(dict[str, Any], dumped)


def dedupe_key(source: str, event_type: str, payload: dict[str, Any]) -> str:
    """Handlers are idempotent per deposit, revision and event."""
    schema = EVENTS[(source, event_type)]
    parts = [source, event_type, payload["deposit_id"], str(payload["revision"])]
    parts += [str(payload.get(name)) for name in schema.dedupe_fields]
    return ":".join(parts)
