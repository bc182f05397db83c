"""Versioned marshmallow contracts for every RPC and event payload.

Services dump what they send and load what they receive through these schemas,
so a payload that breaks its contract is caught at the edge, never deep inside.
Adding an optional field keeps the version; anything else bumps CONTRACT_VERSION.
"""
from __future__ import annotations

import functools
import uuid
from datetime import datetime, timezone

from marshmallow import (EXCLUDE, RAISE, Schema, ValidationError, fields, validate,
                         validates_schema)

from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.resource_types import DEFAULT as DEFAULT_RESOURCE_TYPE, RESOURCE_TYPES
from kernel.policy import text
from kernel.policy.text import user_pattern

CONTRACT_VERSION = "1"

STATUSES = (
    "draft", "submitted", "in_review", "approved", "archived",
    "returned", "declined", "withdrawn",
)
FIELD_TYPES = (
    "text", "long_text", "date", "url", "language", "choice", "person",
    "keywords", "licence",
)
DC_ELEMENTS = (
    "title", "creator", "subject", "description", "publisher", "contributor",
    "date", "type", "format", "identifier", "source", "language", "relation",
    "coverage", "rights",
)
ROLES = ("patron", "approver", "staff", "manager", "admin")
PROFILE_ID = user_pattern(r"^[a-z0-9][a-z0-9-]{0,63}$")
FIELD_KEY = user_pattern(r"^[a-z][a-z0-9_]{0,63}$")
EXTENSION = user_pattern(r"^\.?[A-Za-z0-9]{1,16}$")
MEDIA_TYPE = user_pattern(r"^[a-z]+/[\w.+-]+$")
LOCALE = user_pattern(r"^[a-z]{2}(-[A-Z]{2})?$")
REASON_CODE = user_pattern(r"^[a-z][a-z0-9_]{0,99}$")
ACCESS_POLICIES = ("open", "campus", "embargo")


# what a profile's form lets through: the profile schema and the metadata bodies state it
TEXT_RULES = (
    "Metadata is checked against the profile's form. Text is kept in Unicode NFC; a "
    "character XML 1.0 cannot carry, a lone surrogate or a bidirectional override "
    "(U+202A-U+202E, U+2066-U+2069) is refused with 422 naming the field. Each value's "
    "length limit, in "
    f"characters: the field mapped to dc:title {text.LIMITS['title']}; text "
    f"{text.LIMITS['text']}; long_text {text.LIMITS['abstract']}; a keyword "
    f"{text.LIMITS['keyword']}; a person's name {text.LIMITS['name']}.")


class _WireSafe:
    """Values that crossed the wire once already are ISO strings; a second dump keeps them."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, str):
            return value
        return super()._serialize(value, attr, obj, **kwargs)


class DateTime(_WireSafe, fields.DateTime):
    """ISO 8601 on the wire."""


class Date(_WireSafe, fields.Date):
    """ISO 8601 on the wire."""


class Text(fields.Str):
    """Text a person wrote, of a kind in `text.LIMITS`: refused characters are a field
    error, the value is kept in NFC, and its length limit is the kind's (and the schema's)."""

    def __init__(self, kind: str, *, min_length: int | None = None, **kwargs):
        self.kind = kind
        kwargs["validate"] = validate.Length(min=min_length, max=text.LIMITS[kind])
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        problem = text.problem(value)
        if problem:
            raise ValidationError(problem)
        return text.normalise(value)


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Lenient(Schema):
    """For payloads read from other services: newer optional fields are ignored."""

    class Meta:
        unknown = EXCLUDE


# --- people -----------------------------------------------------------------

class ActorSchema(Lenient):
    id = fields.Str(required=True)
    username = fields.Str(load_default=None)
    name = fields.Str(load_default="")
    email = fields.Str(load_default="")
    groups = fields.List(fields.Str(), load_default=list)
    roles = fields.List(fields.Str(validate=validate.OneOf(ROLES)), load_default=list)
    locale = fields.Str(load_default="en")


class PersonRefSchema(Lenient):
    """Who did something, as history and letters show it."""
    id = fields.Str(required=True)
    name = fields.Str(load_default="")
    email = fields.Str(load_default="")
    locale = fields.Str(load_default="en")


# --- profiles ---------------------------------------------------------------

class FormFieldSchema(Strict):
    key = fields.Str(required=True, validate=validate.Regexp(FIELD_KEY))
    label = fields.Str(required=True)
    help = fields.Str(load_default="")
    type = fields.Str(required=True, validate=validate.OneOf(FIELD_TYPES),
                      metadata={"description": TEXT_RULES})
    required = fields.Bool(load_default=False)
    repeatable = fields.Bool(load_default=False)
    max_values = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=1))
    dc = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(DC_ELEMENTS))
    vocabulary = fields.List(fields.Str(), load_default=list)


class FileRulesSchema(Strict):
    min_files = fields.Int(load_default=1, validate=validate.Range(min=0))
    max_files = fields.Int(load_default=10, validate=validate.Range(min=0))
    max_file_size = fields.Int(load_default=100 * 1024 * 1024, validate=validate.Range(min=1))
    max_total_size = fields.Int(load_default=1024 * 1024 * 1024, validate=validate.Range(min=1))
    allowed_extensions = fields.List(fields.Str(validate=validate.Regexp(EXTENSION)),
                                     load_default=list)
    allowed_media_types = fields.List(fields.Str(validate=validate.Regexp(MEDIA_TYPE)),
                                      load_default=list)
    metadata_only_allowed = fields.Bool(load_default=False)
    virus_scan = fields.Bool(load_default=False)

    @validates_schema
    def _limits_agree(self, data, **kwargs):
        if data["min_files"] > data["max_files"]:
            raise ValidationError("must not exceed max_files", "min_files")
        if data["max_file_size"] > data["max_total_size"]:
            raise ValidationError("must not exceed max_total_size", "max_file_size")


class ApprovalRuleSchema(Strict):
    mode = fields.Str(required=True, validate=validate.OneOf(("automatic", "manual")))
    approver_groups = fields.List(fields.Str(), load_default=list)
    # days from entering review to a decision; absent means no target
    turnaround_days = fields.Int(allow_none=True, validate=validate.Range(min=1, max=365))


MEDIATOR_ROLES = ("approver", "staff", "manager", "admin")


class MediatorsSchema(Strict):
    """Who may deposit with a profile on a patron's behalf: staff who also hold one of
    `roles` or are in one of `groups`. Such deposits skip approval, so a profile that names
    nobody allows the staff role only while it is active and open to every group."""
    roles = fields.List(fields.Str(validate=validate.OneOf(MEDIATOR_ROLES)), load_default=list,
                        validate=validate.Length(max=len(MEDIATOR_ROLES)))
    groups = fields.List(fields.Str(validate=validate.Length(min=1, max=200)), load_default=list,
                         validate=validate.Length(max=50))


class ProfileDefinitionSchema(Strict):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    description = fields.Str(load_default="")
    instructions = fields.Str(load_default="")
    active = fields.Bool(load_default=True)
    allowed_groups = fields.List(fields.Str(), load_default=list)
    file_rules = fields.Nested(FileRulesSchema, load_default=lambda: FileRulesSchema().load({}))
    approval = fields.Nested(ApprovalRuleSchema, required=True)
    target_collection = fields.Str(required=True)
    access = fields.Str(load_default="open", validate=validate.OneOf(ACCESS_POLICIES))
    embargo_max_months = fields.Int(load_default=0, validate=validate.Range(min=0, max=600))
    terms = fields.Str(load_default="")
    # what the profile's items are (a COAR resource type), for every crosswalk
    resource_type = fields.Str(load_default=DEFAULT_RESOURCE_TYPE,
                               validate=validate.OneOf(tuple(RESOURCE_TYPES)),
                               metadata={"description": "The COAR resource type of the "
                                         "profile's items: dc:type, DataCite "
                                         "resourceTypeGeneral and Schema.org type follow it."})
    # absent (None): the staff role, for an active profile open to every group only
    mediators = fields.Nested(MediatorsSchema, load_default=None, allow_none=True, metadata={
        "description": "Who may deposit with this profile on a patron's behalf (such deposits "
                       "skip approval): staff holding one of the roles or in one of the groups. "
                       "Absent or null: the staff role, but only while the profile is active "
                       "and has no allowed_groups; otherwise nobody."})

    @validates_schema
    def _coherent(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        if data["access"] == "embargo" and data["embargo_max_months"] < 1:
            errors["embargo_max_months"] = ["must be at least 1 for an embargo policy"]
        form = data.get("fields", [])
        keys = [field["key"] for field in form]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            errors.setdefault("fields", []).append(f"keys must be unique: {', '.join(duplicates)}")
        if not any(field.get("dc") == "title" for field in form):
            errors.setdefault("fields", []).append("one field must map to dc:title")
        if any(field["type"] == "choice" and not field["vocabulary"] for field in form):
            errors.setdefault("fields", []).append("a choice field needs a vocabulary")
        if errors:
            raise ValidationError(errors)

    # Last in the body: from here on `fields` names this attribute, not the module.
    fields = fields.List(fields.Nested(FormFieldSchema), required=True,
                         validate=validate.Length(min=1))


class ProfileView(ProfileDefinitionSchema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Str(required=True)
    version = fields.Int(required=True)
    created_at = DateTime()


class ProfileVersionSchema(Lenient):
    version = fields.Int(required=True)
    created_by = fields.Str(required=True)
    created_at = DateTime(required=True)


class ProfileRulesSchema(Lenient):
    """The part of a profile that later pipeline steps need, pinned to a version."""
    id = fields.Str(required=True)
    version = fields.Int(required=True)
    name = fields.Str(load_default="")
    file_rules = fields.Nested(FileRulesSchema, required=True)
    approval = fields.Nested(ApprovalRuleSchema, required=True)
    target_collection = fields.Str(required=True)
    access = fields.Str(load_default="open")
    # absent in events from before profiles named their type
    resource_type = fields.Str(load_default=None, allow_none=True)
    fields = fields.List(fields.Nested(FormFieldSchema), load_default=list)


class AccessChoiceSchema(Strict):
    """The access a depositor chose within the profile's policy."""
    policy = fields.Str(required=True, validate=validate.OneOf(ACCESS_POLICIES))
    embargo_until = Date(load_default=None, allow_none=True)


# --- deposits ---------------------------------------------------------------

class FileSchema(Lenient):
    id = fields.Str(required=True)
    filename = fields.Str(required=True)
    size = fields.Int(required=True)
    sha256 = fields.Str(required=True)
    md5 = fields.Str(required=True)
    media_type = fields.Str(required=True)
    storage_key = fields.Str(required=True)
    # what validation measured (pages, duration, dimensions...), carried on to inventory
    technical = fields.Dict(keys=fields.Str())  # absent until validation has looked


class HistoryEntrySchema(Lenient):
    revision = fields.Int(required=True)
    from_status = fields.Str(allow_none=True)
    to_status = fields.Str(required=True)
    actor = fields.Nested(PersonRefSchema, required=True)
    reason_code = fields.Str(allow_none=True, load_default=None)
    # the reason's label when it was given: what the depositor was told, even if relabelled
    reason_label = fields.Str(allow_none=True, load_default=None)
    note = fields.Str(allow_none=True, load_default=None)
    at = DateTime(required=True)


class DepositSnapshotSchema(Lenient):
    """A deposit as events carry it: everything the next step needs."""
    id = fields.Str(required=True)
    revision = fields.Int(required=True)
    title = fields.Str(load_default="")
    profile = fields.Nested(ProfileRulesSchema, required=True)
    depositor = fields.Nested(PersonRefSchema, required=True)
    mediated_by = fields.Nested(PersonRefSchema, allow_none=True, load_default=None)
    metadata = fields.Dict(required=True)
    files = fields.List(fields.Nested(FileSchema), load_default=list)
    access = fields.Nested(AccessChoiceSchema, load_default=lambda: {"policy": "open",
                                                                    "embargo_until": None})


class FileCheckSchema(Lenient):
    check = fields.Str(required=True)
    passed = fields.Bool(required=True)
    message = fields.Str(required=True)
    # the message as a code and its parameters, for the gateway to translate
    # (kernel/contracts/validation_messages.py)
    code = fields.Str(load_default=None, allow_none=True)
    params = fields.Dict(keys=fields.Str(), load_default=dict)


class FileReportSchema(Lenient):
    file_id = fields.Str(allow_none=True)
    filename = fields.Str(allow_none=True)
    passed = fields.Bool(required=True)
    media_type = fields.Str(allow_none=True, load_default=None)
    checks = fields.List(fields.Nested(FileCheckSchema), required=True)
    # an archive's listing: kind, entries (name, size, depth), entry_count, expanded_size
    archive = fields.Dict(keys=fields.Str(), load_default=None, allow_none=True)
    technical = fields.Dict(keys=fields.Str(), load_default=dict)


class ValidationReportSchema(Lenient):
    revision = fields.Int(required=True)
    passed = fields.Bool(required=True)
    checks = fields.List(fields.Nested(FileCheckSchema), load_default=list)
    files = fields.List(fields.Nested(FileReportSchema), load_default=list)
    checked_at = DateTime(required=True)


class DepositView(Lenient):
    id = fields.Str(required=True)
    profile_id = fields.Str(required=True)
    profile_version = fields.Int(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    revision = fields.Int(required=True)
    title = fields.Str(load_default="")
    metadata = fields.Dict(required=True)
    depositor = fields.Nested(PersonRefSchema, required=True)
    mediated_by = fields.Nested(PersonRefSchema, allow_none=True)
    files = fields.List(fields.Nested(FileSchema(exclude=("storage_key",))))
    history = fields.List(fields.Nested(HistoryEntrySchema))
    validation_report = fields.Nested(ValidationReportSchema, allow_none=True)
    item_id = fields.Str(allow_none=True)
    item_identifier = fields.Str(allow_none=True)
    access = fields.Nested(AccessChoiceSchema, required=True)
    terms_accepted_at = DateTime(allow_none=True)
    terms_version = fields.Int(allow_none=True)
    allowed_actions = fields.List(fields.Str(), required=True)
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)


class DepositSummarySchema(Lenient):
    id = fields.Str(required=True)
    profile_id = fields.Str(required=True)
    status = fields.Str(required=True)
    revision = fields.Int(required=True)
    title = fields.Str(load_default="")
    depositor = fields.Nested(PersonRefSchema, required=True)
    item_id = fields.Str(allow_none=True)
    updated_at = DateTime(required=True)
    mediated_by = fields.Nested(PersonRefSchema, allow_none=True, load_default=None)


def page_of(item_schema: type[Schema]) -> type[Schema]:
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item_schema), required=True),
        "page": fields.Int(required=True),
        "per_page": fields.Int(required=True),
        "total": fields.Int(required=True),
    }, name=f"{item_schema.__name__.removesuffix('Schema')}Page")


DepositPage = page_of(DepositSummarySchema)


# --- approval ---------------------------------------------------------------

DECISIONS = ("approve", "decline", "return")


class DecisionSchema(Lenient):
    decision = fields.Str(required=True, validate=validate.OneOf(DECISIONS))
    actor = fields.Nested(PersonRefSchema, required=True)
    reason_code = fields.Str(allow_none=True, load_default=None)
    # the reason's label when it was given: what the depositor was told, even if relabelled
    reason_label = fields.Str(allow_none=True, load_default=None)
    note = fields.Str(allow_none=True, load_default=None)
    at = DateTime(required=True)


class ReviewTaskSchema(Lenient):
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)
    state = fields.Str(required=True)
    title = fields.Str(load_default="")
    profile_id = fields.Str(required=True)
    depositor = fields.Nested(PersonRefSchema, required=True)
    assignee = fields.Nested(PersonRefSchema, allow_none=True)
    decision = fields.Nested(DecisionSchema, allow_none=True)
    created_at = DateTime(required=True)
    # issue 5: the queue's columns
    collection = fields.Str(load_default="")
    approver_groups = fields.List(fields.Str(), load_default=list)
    due_at = DateTime(allow_none=True, load_default=None)
    overdue = fields.Bool(load_default=False)
    claimed_at = DateTime(allow_none=True, load_default=None)
    # the asking approver deposited it (or mediated it): they may see it, never decide on it
    own_deposit = fields.Bool(load_default=False, metadata={
        "description": "The caller deposited or mediated it, so may not claim, edit or decide "
                       "on it (403)."})


ReviewPage = page_of(ReviewTaskSchema)


class ReasonSchema(Lenient):
    kind = fields.Str(required=True, validate=validate.OneOf(("decline", "return")))
    code = fields.Str(required=True)
    label = fields.Str(required=True)
    is_default = fields.Bool(load_default=False)


# --- inventory --------------------------------------------------------------

class ItemFileSchema(Lenient):
    id = fields.Str(required=True)
    filename = fields.Str(required=True)
    size = fields.Int(required=True)
    sha256 = fields.Str(required=True)
    media_type = fields.Str(required=True)
    technical = fields.Dict(keys=fields.Str(), allow_none=True)  # what validation measured


class RepresentationSchema(Lenient):
    id = fields.Str(required=True)
    usage = fields.Str(required=True)
    label = fields.Str(required=True)
    files = fields.List(fields.Nested(ItemFileSchema), required=True)


class ItemView(Lenient):
    id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    deposit_id = fields.Str(required=True)
    collection = fields.Str(required=True)
    access = fields.Str(required=True)
    embargo_until = Date(allow_none=True)
    record = fields.Dict(required=True)
    resource_type = fields.Str(load_default=DEFAULT_RESOURCE_TYPE)  # a key of RESOURCE_TYPES
    representations = fields.List(fields.Nested(RepresentationSchema), required=True)
    created_at = DateTime(required=True)
    creators = fields.List(fields.Dict(), allow_none=True)  # [{name, orcid}]
    withdrawn_at = DateTime(allow_none=True, load_default=None)  # set: a tombstone, no files
    withdrawal_reason = fields.Str(allow_none=True, load_default=None)
    doi = fields.Str(allow_none=True, load_default=None)
    embargo_lifted_at = DateTime(allow_none=True, load_default=None)


class CollectionSchema(Lenient):
    id = fields.Str(required=True)
    name = fields.Str(required=True)
    parent_id = fields.Str(allow_none=True)
    description = fields.Str(load_default="")
    set_spec = fields.Str(allow_none=True, load_default=None)  # the OAI set
    item_count = fields.Int(load_default=0)  # items held directly


class StoredFileSchema(ItemFileSchema):
    """Where the gateway finds an item file to stream it."""
    storage_key = fields.Str(required=True)


# --- events -----------------------------------------------------------------

class EventSchema(Lenient):
    event_id = fields.Str(required=True)
    schema_version = fields.Str(required=True, validate=validate.Equal(CONTRACT_VERSION))
    occurred_at = DateTime(required=True)
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)

    dedupe_fields: tuple[str, ...] = ()


class DepositSubmitted(EventSchema):
    deposit = fields.Nested(DepositSnapshotSchema, required=True)


class DepositWithdrawn(EventSchema):
    actor = fields.Nested(PersonRefSchema, required=True)


class DepositStatusChanged(EventSchema):
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
    report = fields.Nested(ValidationReportSchema, allow_none=True, load_default=None)
    # the staff member who deposited on the depositor's behalf, on every step of such a deposit
    mediated_by = fields.Nested(PersonRefSchema, allow_none=True, load_default=None)
    review = fields.Nested(lambda: ReviewRuleSchema(), allow_none=True, load_default=None)

    dedupe_fields = ("to_status",)


class DepositValidated(EventSchema):
    passed = fields.Bool(required=True)
    report = fields.Nested(ValidationReportSchema, required=True)
    deposit = fields.Nested(DepositSnapshotSchema, required=True)


class DepositDecided(EventSchema):
    decision = fields.Nested(DecisionSchema, required=True)
    deposit = fields.Nested(DepositSnapshotSchema, required=True)


class ItemCreated(EventSchema):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    collection = fields.Str(required=True)
    decision = fields.Nested(DecisionSchema, required=True)


class LetterOutcome(EventSchema):
    letter_id = fields.Str(required=True)
    letter_type = fields.Str(required=True)
    recipient = fields.Str(required=True)
    error = fields.Str(allow_none=True, load_default=None)

    dedupe_fields = ("letter_id",)


class FixityFailed(EventSchema):
    """A permanent file no longer matches its checksum, or is missing."""
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    file_id = fields.Str(required=True)
    filename = fields.Str(required=True)
    detail = fields.Str(required=True)

    dedupe_fields = ("event_id",)


class DraftExpiring(EventSchema):
    """An untouched draft will be removed with its files at `expires_at` unless touched."""
    title = fields.Str(load_default="")
    depositor = fields.Nested(PersonRefSchema, required=True)
    expires_at = DateTime(required=True)

    dedupe_fields = ("expires_at",)


class EmbargoLifted(EventSchema):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    embargo_until = Date(required=True)

    dedupe_fields = ("item_id",)


class ItemWithdrawn(EventSchema):
    """A manager took an item out of the repository; it remains as a tombstone."""
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    reason = fields.Str(required=True)
    actor = fields.Nested(PersonRefSchema, required=True)

    dedupe_fields = ("item_id",)


EVENTS: dict[tuple[str, str], type[EventSchema]] = {
    ("intake", "deposit_submitted"): DepositSubmitted,
    ("intake", "deposit_withdrawn"): DepositWithdrawn,
    ("intake", "deposit_status_changed"): DepositStatusChanged,
    ("intake", "draft_expiring"): DraftExpiring,
    ("validation", "deposit_validated"): DepositValidated,
    ("approval", "deposit_approved"): DepositDecided,
    ("approval", "deposit_declined"): DepositDecided,
    ("approval", "deposit_returned"): DepositDecided,
    ("inventory", "item_created"): ItemCreated,
    ("inventory", "fixity_failed"): FixityFailed,
    ("inventory", "embargo_lifted"): EmbargoLifted,
    ("inventory", "item_withdrawn"): ItemWithdrawn,
    ("letters", "letter_sent"): LetterOutcome,
    ("letters", "letter_failed"): LetterOutcome,
}


@functools.lru_cache(maxsize=None)
def event_schema(source: str, event_type: str) -> EventSchema:
    """One shared instance per event: building a schema costs more than using it."""
    try:
        return EVENTS[(source, event_type)]()
    except KeyError:
        raise LookupError(f"no contract for event {source}.{event_type}") from None


def new_event(source: str, event_type: str, **payload) -> dict:
    """A JSON-ready event payload, checked against its contract."""
    payload.setdefault("event_id", uuid.uuid4().hex)
    payload.setdefault("schema_version", CONTRACT_VERSION)
    payload.setdefault("occurred_at", datetime.now(timezone.utc))
    schema = event_schema(source, event_type)
    dumped = schema.dump(payload)
    errors = schema.validate(dumped)
    if errors:
        raise ValueError(f"{source}.{event_type} breaks its contract: {errors}")
    return dumped


def dedupe_key(source: str, event_type: str, payload: dict) -> str:
    """Handlers are idempotent per deposit, revision and event."""
    schema = EVENTS[(source, event_type)]
    parts = [source, event_type, payload["deposit_id"], str(payload["revision"])]
    parts += [str(payload.get(name)) for name in schema.dedupe_fields]
    return ":".join(parts)


# shared instances of schemas used on every event
validation_report_schema = ValidationReportSchema()
decision_schema = DecisionSchema()


# --- RPC requests -----------------------------------------------------------

class PageRequest(Strict):
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


class ActorRequest(Strict):
    actor = fields.Nested(ActorSchema, required=True)


class ProfileRequest(ActorRequest):
    profile_id = fields.Str(required=True)
    version = fields.Int(load_default=None, allow_none=True)


class ListProfilesRequest(ActorRequest):
    include_inactive = fields.Bool(load_default=False)
    # only the profiles the actor may deposit with on a patron's behalf (inactive ones too)
    mediated = fields.Bool(load_default=False)


class SaveProfileRequest(ActorRequest):
    profile_id = fields.Str(required=True, validate=validate.Regexp(PROFILE_ID))
    definition = fields.Nested(ProfileDefinitionSchema, required=True)
    create = fields.Bool(load_default=False)


class CreateDepositRequest(ActorRequest):
    profile_id = fields.Str(required=True)
    metadata = fields.Dict(load_default=dict)
    on_behalf_of = fields.Nested(ActorSchema, load_default=None, allow_none=True)


class DepositRequest(ActorRequest):
    deposit_id = fields.Str(required=True)


class UpdateDepositRequest(DepositRequest):
    metadata = fields.Dict(load_default=None)
    accept_terms = fields.Bool(load_default=None)
    access = fields.Nested(AccessChoiceSchema, load_default=None)


class DepositActionRequest(DepositRequest):
    note = Text("note", load_default=None, allow_none=True)


class ListDepositsRequest(ActorRequest, PageRequest):
    status = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(STATUSES))
    depositor_id = fields.Str(load_default=None, allow_none=True)


class AddFileRequest(DepositRequest):
    file = fields.Nested(FileSchema, required=True)


class FileRequest(DepositRequest):
    file_id = fields.Str(required=True)


class ListReviewsRequest(ActorRequest, PageRequest):
    state = fields.Str(load_default="open", validate=validate.OneOf(
        ("open", "claimed", "decided", "cancelled", "all")))
    assignee = fields.Str(load_default=None, allow_none=True)


class ReviewActionRequest(DepositRequest):
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = Text("note", load_default=None, allow_none=True)


class CancelReviewRequest(Strict):
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)


class NoArguments(Strict):
    pass


class ItemRequest(Strict):
    item_id = fields.Str(required=True)


class ItemFileRequest(ItemRequest):
    file_id = fields.Str(required=True)


class DepositReportRequest(Strict):
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)


class CheckFileRequest(Strict):
    storage_key = fields.Str(required=True)
    filename = fields.Str(required=True)
    file_rules = fields.Nested(FileRulesSchema, required=True)
    # given, the result is kept for prechecks() (issue 4: the editor shows it after a reload)
    file_id = fields.Str(load_default=None, allow_none=True)


class PreviewLetterRequest(Strict):
    """The letter a decision would send, rendered without sending it."""
    letter_type = fields.Str(required=True)
    locale = fields.Str(load_default=None, allow_none=True)
    deposit = fields.Nested(DepositView, required=True)
    reason_code = fields.Str(load_default=None, allow_none=True)
    reason_label = fields.Str(load_default=None, allow_none=True)
    note = fields.Str(load_default=None, allow_none=True)


class LetterPreviewSchema(Lenient):
    letter_type = fields.Str(required=True)
    locale = fields.Str(required=True)
    subject = fields.Str(required=True)
    text = fields.Str(required=True)
    html = fields.Str(allow_none=True, load_default=None)


def load_or_raise(schema: Schema, data: dict) -> dict:
    try:
        return schema.load(data)
    except ValidationError as err:
        raise InvalidInput("The request is not valid.", fields=err.messages) from None


def rpc_contract(request: type[Schema], response: Schema | None = None):
    """Check an RPC's keyword arguments against `request` and dump its result with `response`.

    The wrapped method is called with the loaded arguments; callers pass keywords only.
    """
    request_schema = request()

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, **kwargs):
            result = method(self, **load_or_raise(request_schema, kwargs))
            return response.dump(result) if response is not None else result
        del wrapper.__wrapped__  # nameko checks the call against the wrapper's signature
        return wrapper

    return decorate


# --- issue 6: letters ---

LETTER_TYPES = (
    "deposit_submitted", "validation_failed", "deposit_archived", "deposit_declined",
    "deposit_returned", "deposit_withdrawn", "deposit_created_on_behalf",
    "review_requested", "review_overdue", "review_digest", "draft_expiring", "draft_expired",
    "token_expiring",
)
LETTER_DELIVERY = ("immediate", "digest")


class ReviewRuleSchema(Lenient):
    """What letters need of the profile's approval rule when a deposit enters review."""
    profile_name = fields.Str(load_default="")
    mode = fields.Str(load_default="manual")
    approver_groups = fields.List(fields.Str(), load_default=list)
    turnaround_days = fields.Int(allow_none=True, load_default=None)


class LetterTemplateRequest(ActorRequest):
    letter_type = fields.Str(required=True, validate=validate.OneOf(LETTER_TYPES))
    locale = fields.Str(required=True, validate=validate.Regexp(LOCALE))


class TemplatePartsSchema(Strict):
    subject = fields.Str(required=True, validate=validate.Length(min=1, max=500))
    html = fields.Str(required=True, validate=validate.Length(max=100_000))
    text = fields.Str(required=True, validate=validate.Length(min=1, max=100_000))


class SaveLetterTemplateRequest(LetterTemplateRequest, TemplatePartsSchema):
    pass


class PreviewLetterTemplateRequest(SaveLetterTemplateRequest):
    """Unsaved template parts, rendered against a real deposit or, without one, a sample."""
    deposit = fields.Nested(DepositView, load_default=None, allow_none=True)


class LetterTemplateVersionSchema(Lenient):
    version = fields.Int(required=True)
    created_by = fields.Str(required=True)
    created_at = DateTime(required=True)
    is_default = fields.Bool(required=True)


class LetterTemplateSchema(Lenient):
    letter_type = fields.Str(required=True)
    locale = fields.Str(required=True)
    written_in = fields.Str(required=True)  # the locale it falls back to, if not its own
    version = fields.Int(allow_none=True)  # None: the shipped default, never saved
    is_default = fields.Bool(required=True)
    subject = fields.Str(required=True)
    html = fields.Str(required=True)
    text = fields.Str(required=True)
    variables = fields.List(fields.Str(), load_default=list)
    versions = fields.List(fields.Nested(LetterTemplateVersionSchema), load_default=list)


class LetterTemplateSummarySchema(Lenient):
    letter_type = fields.Str(required=True)
    locale = fields.Str(required=True)
    version = fields.Int(allow_none=True)
    is_default = fields.Bool(required=True)
    has_own_default = fields.Bool(required=True)
    updated_by = fields.Str(allow_none=True)
    updated_at = DateTime(allow_none=True)


class TokenExpiringRequest(Strict):
    """The gateway asks letters to warn a token's owner that it expires soon; `key` makes a
    repeated request one letter."""
    key = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    recipient = fields.Nested(ActorSchema, required=True)
    token_name = fields.Str(load_default="", validate=validate.Length(max=100))
    token_prefix = fields.Str(required=True, validate=validate.Length(max=12))
    expires_at = DateTime(required=True)


class SaveRecipientRequest(ActorRequest):
    """A staff user as letters know them; `delivery` None keeps their choice."""
    delivery = fields.Str(load_default=None, allow_none=True,
                          validate=validate.OneOf(LETTER_DELIVERY))


class RecipientSchema(Lenient):
    id = fields.Str(required=True)
    name = fields.Str(required=True)
    email = fields.Str(required=True)
    locale = fields.Str(required=True)
    delivery = fields.Str(required=True)


class DeliveriesRequest(ActorRequest):
    deposit_id = fields.Str(required=True)


class DeliverySchema(Lenient):
    id = fields.Str(required=True)
    letter_type = fields.Str(required=True)
    recipient = fields.Str(required=True)
    recipient_name = fields.Str(required=True)
    subject = fields.Str(required=True)
    status = fields.Str(required=True)
    attempts = fields.Int(required=True)
    last_error = fields.Str(allow_none=True)
    created_at = DateTime(required=True)
    sent_at = DateTime(allow_none=True)


# --- issue 7: metadata records, withdrawal and OAI-PMH ---

OAI_METADATA_PREFIXES = ("oai_dc", "datacite")


class WithdrawItemRequest(ActorRequest):
    item_id = fields.Str(required=True)
    reason = Text("reason", required=True, min_length=1)


class HarvestRequest(Strict):
    """A page of OAI records after a keyset position; headers only without a prefix."""
    metadata_prefix = fields.Str(load_default=None, allow_none=True,
                                 validate=validate.OneOf(OAI_METADATA_PREFIXES))
    since = DateTime(load_default=None, allow_none=True)
    until = DateTime(load_default=None, allow_none=True)
    set_spec = fields.Str(load_default=None, allow_none=True)
    after_datestamp = DateTime(load_default=None, allow_none=True)
    after_id = fields.Str(load_default=None, allow_none=True)
    limit = fields.Int(load_default=100, validate=validate.Range(min=1, max=1000))


class OaiRecordRequest(Strict):
    identifier = fields.Str(required=True)
    metadata_prefix = fields.Str(load_default=None, allow_none=True,
                                 validate=validate.OneOf(OAI_METADATA_PREFIXES))


class OaiRecordSchema(Lenient):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    datestamp = DateTime(required=True)
    sets = fields.List(fields.Str(), required=True)
    deleted = fields.Bool(required=True)
    metadata = fields.Str(allow_none=True)  # the serialised XML element


class HarvestPageSchema(Lenient):
    records = fields.List(fields.Nested(OaiRecordSchema), required=True)
    more = fields.Bool(required=True)


class RepositorySummarySchema(Lenient):
    earliest_datestamp = DateTime(allow_none=True)


# --- issue 7b: landing pages, identifiers, access, collections, search, fixity ---

COLLECTION_ID = validate.Regexp(PROFILE_ID,
                                error="use lower-case letters, digits and hyphens")


class SaveCollectionRequest(ActorRequest):
    collection_id = fields.Str(required=True, validate=COLLECTION_ID)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    description = fields.Str(load_default="", validate=validate.Length(max=10000))
    parent_id = fields.Str(load_default=None, allow_none=True)
    create = fields.Bool(load_default=False)


class CollectionRequest(ActorRequest):
    collection_id = fields.Str(required=True)


class CollectionIdRequest(Strict):
    collection_id = fields.Str(required=True)


class ItemEventsRequest(ActorRequest):
    item_id = fields.Str(required=True)


class CollectionView(CollectionSchema):
    """A collection with its place in the tree, for its browse page."""
    ancestors = fields.List(fields.Nested(CollectionSchema), load_default=list)
    children = fields.List(fields.Nested(CollectionSchema), load_default=list)


class SearchRequest(PageRequest):
    query = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))
    year = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=9999))
    collection = fields.Str(load_default=None, allow_none=True)


class ItemSummarySchema(Lenient):
    id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    title = fields.Str(required=True)
    creators = fields.List(fields.Str(), required=True)
    year = fields.Int(allow_none=True)
    collection = fields.Str(required=True)
    access = fields.Str(required=True)
    embargo_until = Date(allow_none=True)
    description = fields.Str(load_default="")


class SearchPageSchema(page_of(ItemSummarySchema)):
    years = fields.List(fields.Dict(), load_default=list)  # [{year, count}] over all matches


class ResolveRequest(Strict):
    identifier = fields.Str(required=True, validate=validate.Length(min=1, max=500))


class ResolvedSchema(Lenient):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)


class FileEventSchema(Lenient):
    event_type = fields.Str(required=True)
    outcome = fields.Str(required=True)
    detail = fields.Str(required=True)
    agent = fields.Str(required=True)
    at = DateTime(required=True)


class FileProvenanceSchema(Lenient):
    file_id = fields.Str(required=True)
    filename = fields.Str(required=True)
    fixity_status = fields.Str(allow_none=True)
    last_checked_at = DateTime(allow_none=True)
    events = fields.List(fields.Nested(FileEventSchema), required=True)


class FixityFailureSchema(Lenient):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    file_id = fields.Str(required=True)
    filename = fields.Str(required=True)
    checked_at = DateTime(allow_none=True)
    detail = fields.Str(required=True)


class FixityReportSchema(Lenient):
    files = fields.Int(required=True)
    ok = fields.Int(required=True)
    failed = fields.Int(required=True)
    never_checked = fields.Int(required=True)
    oldest_check = DateTime(allow_none=True)
    failures = fields.List(fields.Nested(FixityFailureSchema), required=True)


class FixityAuditSchema(Lenient):
    checked = fields.Int(required=True)
    failed = fields.Int(required=True)


# --- issue 5: staff-mediated deposit, dashboard, all deposits ---

class SearchDepositsRequest(ActorRequest, PageRequest):
    """Every deposit, for staff: by status and profile, by words in the title or by depositor."""
    status = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(STATUSES))
    profile_id = fields.Str(load_default=None, allow_none=True)
    title = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    # depositors whose name or e-mail matched the same words (the gateway knows the accounts)
    depositor_ids = fields.List(fields.Str(), load_default=list, validate=validate.Length(max=100))
    depositor_id = fields.Str(load_default=None, allow_none=True)


class DepositStatisticsRequest(ActorRequest):
    weeks = fields.Int(load_default=12, validate=validate.Range(min=1, max=104))


class WeekCountSchema(Lenient):
    week = Date(required=True)  # the Monday (UTC) the week starts on
    submitted = fields.Int(required=True)
    approved = fields.Int(required=True)
    returned = fields.Int(required=True)
    declined = fields.Int(required=True)


class ProfileTurnaroundSchema(Lenient):
    profile_id = fields.Str(required=True)
    decisions = fields.Int(required=True)
    median_seconds = fields.Float(required=True)


class MediatedDepositSchema(Lenient):
    """A deposit staff made on a patron's behalf: it skipped approval, so the desk sees it."""
    deposit_id = fields.Str(required=True)
    title = fields.Str(required=True)
    status = fields.Str(required=True)
    profile_id = fields.Str(required=True)
    depositor = fields.Nested(PersonRefSchema, required=True)
    mediated_by = fields.Nested(PersonRefSchema, required=True)
    created_at = DateTime(required=True)


class MediatedDepositsSchema(Lenient):
    total = fields.Int(required=True)  # made since the first week shown
    items = fields.List(fields.Nested(MediatedDepositSchema), required=True)  # newest first


class DepositStatisticsSchema(Lenient):
    total = fields.Int(required=True)
    by_status = fields.Dict(keys=fields.Str(), values=fields.Int(), required=True)
    weeks = fields.List(fields.Nested(WeekCountSchema), required=True)
    turnaround = fields.List(fields.Nested(ProfileTurnaroundSchema), required=True)
    mediated = fields.Nested(MediatedDepositsSchema, required=True)
    since = Date(required=True)
    computed_at = DateTime(required=True)


# --- issue 4: validation pre-checks ---

class PrechecksRequest(Strict):
    file_ids = fields.List(fields.Str(), required=True, validate=validate.Length(max=1000))


PrecheckMap = Schema.from_dict({"prechecks": fields.Dict(
    keys=fields.Str(), values=fields.Nested(FileReportSchema), required=True)},
    name="PrecheckMap")


# --- issue 5: approval workflow ---------------------------------------------

QUEUE_TABS = ("mine", "unassigned", "others", "all")
QUEUE_SORTS = ("oldest", "newest", "due")
REASON_KINDS = ("decline", "return")


class QueueRequest(ActorRequest):
    tab = fields.Str(load_default="all", validate=validate.OneOf(QUEUE_TABS))
    profile_id = fields.Str(load_default=None, allow_none=True)
    collection = fields.Str(load_default=None, allow_none=True)
    depositor = fields.Str(load_default=None, allow_none=True,
                           validate=validate.Length(max=200))
    older_than_days = fields.Int(load_default=None, allow_none=True,
                                 validate=validate.Range(min=0, max=3650))
    overdue = fields.Bool(load_default=False)
    sort = fields.Str(load_default="oldest", validate=validate.OneOf(QUEUE_SORTS))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=400))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


class QueueCountsSchema(Lenient):
    mine = fields.Int(required=True)
    unassigned = fields.Int(required=True)
    others = fields.Int(required=True)
    all = fields.Int(required=True)
    overdue = fields.Int(required=True)


class QueuePageSchema(Lenient):
    items = fields.List(fields.Nested(ReviewTaskSchema), required=True)
    page = fields.Int(required=True)
    per_page = fields.Int(required=True)
    total = fields.Int(required=True)
    counts = fields.Nested(QueueCountsSchema, required=True)


class AssignRequest(DepositRequest):
    assignee = fields.Nested(ActorSchema, required=True)


class BulkDecisionRequest(ActorRequest):
    deposit_ids = fields.List(fields.Str(), required=True,
                              validate=validate.Length(min=1, max=100))
    decision = fields.Str(required=True, validate=validate.OneOf(DECISIONS))
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = Text("note", load_default=None, allow_none=True)


class BulkResultSchema(Lenient):
    deposit_id = fields.Str(required=True)
    code = fields.Str(required=True)  # "ok", or the error code the single action raises
    message = fields.Str(load_default="")
    task = fields.Nested(ReviewTaskSchema, allow_none=True, load_default=None)


class StaffNoteSchema(Lenient):
    id = fields.Int(required=True)
    author = fields.Nested(PersonRefSchema, required=True)
    text = fields.Str(required=True)
    at = DateTime(required=True)


class AddNoteRequest(DepositRequest):
    text = fields.Str(required=True, validate=validate.Length(min=1, max=10000))


class ReviewMetadataRequest(DepositRequest):
    metadata = fields.Dict(required=True)


class RevisionChangesSchema(Lenient):
    """What changed in a resubmitted deposit since the revision an approver returned."""
    from_revision = fields.Int(required=True)
    to_revision = fields.Int(required=True)
    metadata = fields.List(fields.Dict(), required=True)  # {field, before, after}
    files_added = fields.List(fields.Str(), required=True)
    files_removed = fields.List(fields.Str(), required=True)
    files_changed = fields.List(fields.Str(), required=True)


class ReviewDetailSchema(Lenient):
    task = fields.Nested(ReviewTaskSchema, required=True)
    notes = fields.List(fields.Nested(StaffNoteSchema), required=True)
    changes = fields.Nested(RevisionChangesSchema, allow_none=True, load_default=None)
    may_decide = fields.Bool(required=True)


class ReviewFileRequest(DepositRequest):
    file_id = fields.Str(required=True)


class SaveReasonRequest(ActorRequest):
    kind = fields.Str(required=True, validate=validate.OneOf(REASON_KINDS))
    code = fields.Str(required=True, validate=validate.Regexp(
        REASON_CODE, error="lower-case letters, digits and underscores"))
    label = Text("label", required=True, min_length=1)
    is_default = fields.Bool(load_default=False)


class ReasonKeyRequest(ActorRequest):
    kind = fields.Str(required=True, validate=validate.OneOf(REASON_KINDS))
    code = fields.Str(required=True)


# --- quotas ---

class QuotaSchema(Lenient):
    used = fields.Int(required=True)
    limit = fields.Int(required=True)


class QuotaUsageSchema(Lenient):
    """A patron's unfinished work against the site's limits."""
    drafts = fields.Nested(QuotaSchema, required=True)
    staged_bytes = fields.Nested(QuotaSchema, required=True)


class QuotaView(QuotaUsageSchema):
    """As the API shows it: staged bytes also count unfinished uploads' declared lengths."""
    uploads = fields.Nested(QuotaSchema, required=True)
