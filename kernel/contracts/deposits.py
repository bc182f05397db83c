"""Deposits: their states, what events carry of them, what Lodge shows of them, the calls
that change them, and the statistics of them all."""

from __future__ import annotations

from enum import StrEnum

from marshmallow import fields, validate

from kernel.contracts.campus import OriginSchema
from kernel.contracts.fields import Date, DateTime, Lenient, Text, page_of
from kernel.contracts.people import ActorSchema, PersonRefSchema
from kernel.contracts.profiles import AccessChoiceSchema, ProfileRulesSchema
from kernel.contracts.rpc import ActorRequest, PageRequest
from kernel.contracts.validation import ValidationReportSchema


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    ARCHIVED = "archived"
    RETURNED = "returned"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


STATUSES = tuple(status.value for status in Status)
DECIDED = (Status.APPROVED, Status.RETURNED, Status.DECLINED)  # where a review can end


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
    access = fields.Nested(
        AccessChoiceSchema, load_default=lambda: {"policy": "open", "embargo_until": None}
    )
    # the item this deposit is a new version of: archived, it joins that item's work
    new_version_of = fields.Str(allow_none=True, load_default=None)
    # the campus system's request that made it, if one did
    origin = fields.Nested(OriginSchema, allow_none=True, load_default=None)


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
    item_doi = fields.Str(allow_none=True, load_default=None)
    access = fields.Nested(AccessChoiceSchema, required=True)
    origin = fields.Nested(OriginSchema, allow_none=True, load_default=None)
    terms_accepted_at = DateTime(allow_none=True)
    terms_version = fields.Int(allow_none=True)
    allowed_actions = fields.List(fields.Str(), required=True)
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)
    new_version_of = fields.Str(allow_none=True, load_default=None)  # an item id


class DepositSummaryView(Lenient):
    id = fields.Str(required=True)
    profile_id = fields.Str(required=True)
    status = fields.Str(required=True)
    revision = fields.Int(required=True)
    title = fields.Str(load_default="")
    depositor = fields.Nested(PersonRefSchema, required=True)
    item_id = fields.Str(allow_none=True)
    updated_at = DateTime(required=True)
    mediated_by = fields.Nested(PersonRefSchema, allow_none=True, load_default=None)


DepositPageView = page_of(DepositSummaryView)


class CreateDepositRequest(ActorRequest):
    profile_id = fields.Str(required=True)
    metadata = fields.Dict(load_default=dict)
    on_behalf_of = fields.Nested(ActorSchema, load_default=None, allow_none=True)
    # set by the gateway for a campus system's request, from the system's registration
    origin = fields.Nested(OriginSchema, load_default=None, allow_none=True)


class NewVersionRequest(ActorRequest):
    item_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))


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


class SearchDepositsRequest(ActorRequest, PageRequest):
    """Every deposit, for staff: by status and profile, by words in the title or by depositor."""

    status = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(STATUSES))
    profile_id = fields.Str(load_default=None, allow_none=True)
    title = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    # depositors whose name or e-mail matched the same words (the web front knows the accounts)
    depositor_ids = fields.List(fields.Str(), load_default=list, validate=validate.Length(max=100))
    depositor_id = fields.Str(load_default=None, allow_none=True)


class DepositStatisticsRequest(ActorRequest):
    weeks = fields.Int(load_default=12, validate=validate.Range(min=1, max=104))


class WeekCountView(Lenient):
    week = Date(required=True)  # the Monday (UTC) the week starts on
    submitted = fields.Int(required=True)
    approved = fields.Int(required=True)
    returned = fields.Int(required=True)
    declined = fields.Int(required=True)


class ProfileTurnaroundView(Lenient):
    profile_id = fields.Str(required=True)
    decisions = fields.Int(required=True)
    median_seconds = fields.Float(required=True)


class MediatedDepositView(Lenient):
    """A deposit staff made on a patron's behalf: it skipped approval, so the desk sees it."""

    deposit_id = fields.Str(required=True)
    title = fields.Str(required=True)
    status = fields.Str(required=True)
    profile_id = fields.Str(required=True)
    depositor = fields.Nested(PersonRefSchema, required=True)
    mediated_by = fields.Nested(PersonRefSchema, required=True)
    created_at = DateTime(required=True)


class MediatedDepositsView(Lenient):
    total = fields.Int(required=True)  # made since the first week shown
    items = fields.List(fields.Nested(MediatedDepositView), required=True)  # newest first


class DepositStatisticsView(Lenient):
    total = fields.Int(required=True)
    by_status = fields.Dict(keys=fields.Str(), values=fields.Int(), required=True)
    weeks = fields.List(fields.Nested(WeekCountView), required=True)
    turnaround = fields.List(fields.Nested(ProfileTurnaroundView), required=True)
    mediated = fields.Nested(MediatedDepositsView, required=True)
    since = Date(required=True)
    computed_at = DateTime(required=True)
