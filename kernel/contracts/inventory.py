"""Inventory: items and their files, collections, search, identifiers and fixity."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from kernel.contracts.fields import (
    LOWER_CASE_ID,
    Date,
    DateTime,
    Lenient,
    Strict,
    Text,
)
from kernel.contracts.people import PersonRefSchema
from kernel.contracts.profiles import DC_ELEMENTS
from kernel.contracts.resource_types import DEFAULT as DEFAULT_RESOURCE_TYPE
from kernel.contracts.rpc import ActorRequest, PageRequest
from kernel.contracts.usage import UsageTotalsSchema
from kernel.policy.text import ORCID_ID, user_pattern

ORCID_ONLY = user_pattern(rf"^{ORCID_ID}$")


class ItemFileView(Lenient):
    id = fields.Str(required=True)
    filename = fields.Str(required=True)
    size = fields.Int(required=True)
    sha256 = fields.Str(required=True)
    media_type = fields.Str(required=True)
    technical = fields.Dict(keys=fields.Str(), allow_none=True)  # what validation measured


class RepresentationView(Lenient):
    id = fields.Str(required=True)
    usage = fields.Str(required=True)
    label = fields.Str(required=True)
    files = fields.List(fields.Nested(ItemFileView), required=True)


# --- versions of a work (DataCite's relatedIdentifier vocabulary) ----------------------

RELATION_TYPES = ("IsNewVersionOf", "IsPreviousVersionOf", "IsVersionOf", "HasVersion")
RELATED_IDENTIFIER_TYPES = ("DOI", "ARK", "Handle", "URL")


class VersionSchema(Lenient):
    """One version of a work, as the item's version list shows it (oldest first)."""

    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    version = fields.Int(required=True)
    doi = fields.Str(allow_none=True, load_default=None)
    created_at = DateTime(required=True)
    withdrawn_at = DateTime(allow_none=True, load_default=None)


class RelationSchema(Lenient):
    """How the item relates to another version or to its work: the DOI where that one has
    one, else its own identifier."""

    relation_type = fields.Str(required=True, validate=validate.OneOf(RELATION_TYPES))
    identifier = fields.Str(required=True)
    identifier_type = fields.Str(required=True, validate=validate.OneOf(RELATED_IDENTIFIER_TYPES))


class ItemView(Lenient):
    id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    deposit_id = fields.Str(required=True)
    collection = fields.Str(required=True)
    access = fields.Str(required=True)
    embargo_until = Date(allow_none=True)
    record = fields.Dict(required=True)
    resource_type = fields.Str(load_default=DEFAULT_RESOURCE_TYPE)  # a key of RESOURCE_TYPES
    representations = fields.List(fields.Nested(RepresentationView), required=True)
    created_at = DateTime(required=True)
    creators = fields.List(fields.Dict(), allow_none=True)  # [{name, orcid}]
    withdrawn_at = DateTime(allow_none=True, load_default=None)  # set: a tombstone, no files
    withdrawal_reason = fields.Str(allow_none=True, load_default=None)
    doi = fields.Str(allow_none=True, load_default=None)
    embargo_lifted_at = DateTime(allow_none=True, load_default=None)
    # the work (concept) this item is a version of; its identifier resolves to the latest
    concept_id = fields.Str(load_default="")
    concept_identifier = fields.Str(load_default="")
    concept_doi = fields.Str(allow_none=True, load_default=None)  # one DOI for all versions
    version = fields.Int(load_default=1)
    versions = fields.List(fields.Nested(VersionSchema), load_default=list)  # oldest first
    relations = fields.List(fields.Nested(RelationSchema), load_default=list)
    # views and downloads of all time, when asked for (`with_usage`)
    usage = fields.Nested(UsageTotalsSchema, allow_none=True, load_default=None)
    # the collection's name, when asked for (`with_collection`): the landing page's breadcrumb
    collection_name = fields.Str(allow_none=True, load_default=None)


class CollectionSummaryView(Lenient):
    id = fields.Str(required=True)
    name = fields.Str(required=True)
    parent_id = fields.Str(allow_none=True)
    description = fields.Str(load_default="")
    set_spec = fields.Str(allow_none=True, load_default=None)  # the OAI set
    item_count = fields.Int(load_default=0)  # items held directly
    item_count_exact = fields.Bool(load_default=True)  # False: more than item_count


class CollectionView(CollectionSummaryView):
    """A collection with its place in the tree, for its browse page."""

    ancestors = fields.List(fields.Nested(CollectionSummaryView), load_default=list)
    children = fields.List(fields.Nested(CollectionSummaryView), load_default=list)


class StoredFileView(ItemFileView):
    """An item file with where it is stored, for streaming it."""

    storage_key = fields.Str(required=True)


class ItemRequest(Strict):
    item_id = fields.Str(required=True)


class ItemPageRequest(ItemRequest):
    # what the landing page shows besides: the usage figures, the collection's name (without
    # get_collection, which counts every collection's items)
    with_usage = fields.Bool(load_default=False)
    with_collection = fields.Bool(load_default=False)


class ItemFileRequest(ItemRequest):
    file_id = fields.Str(required=True)


class WithdrawItemRequest(ActorRequest):
    item_id = fields.Str(required=True)
    reason = Text("reason", required=True, min_length=1)


class SaveCollectionRequest(ActorRequest):
    collection_id = fields.Str(required=True, validate=LOWER_CASE_ID)
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


# a search or a collection's items are counted, ranked and paged up to this many
# (docs/architecture.md, "Search"); whole lists are OAI-PMH's and the sitemaps'
SEARCH_RESULT_CAP = 1_000


def check_within_results(page: int, per_page: int) -> None:
    if (page - 1) * per_page >= SEARCH_RESULT_CAP:
        raise ValidationError(
            f"Only the first {SEARCH_RESULT_CAP:,} results can be paged; narrow the search.",
            "page",
        )


class SearchRequest(PageRequest):
    query = Text("title", load_default=None, allow_none=True)  # a NUL is refused, not a 500
    year = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=9999))
    collection = fields.Str(load_default=None, allow_none=True)

    @validates_schema
    def _within_results(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_within_results(data["page"], data["per_page"])


class ItemSummaryView(Lenient):
    id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    title = fields.Str(required=True)
    creators = fields.List(fields.Str(), required=True)
    year = fields.Int(allow_none=True)
    collection = fields.Str(required=True)
    access = fields.Str(required=True)
    embargo_until = Date(allow_none=True)
    description = fields.Str(load_default="")


class SearchPageView(Lenient):
    """A page of items, spelled out: a type checker cannot follow `page_of` as a base."""

    items = fields.List(fields.Nested(ItemSummaryView), required=True)
    page = fields.Int(required=True)
    per_page = fields.Int(required=True)
    total = fields.Int(required=True)
    # False: more than `total` (SEARCH_RESULT_CAP) match
    total_exact = fields.Bool(load_default=True)
    # [{year, count}] over all matches; count None when more than the cap match
    years = fields.List(fields.Dict(), load_default=list)


class ResolveRequest(Strict):
    identifier = fields.Str(required=True, validate=validate.Length(min=1, max=500))


class ResolvedView(Lenient):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)


class FileEventView(Lenient):
    event_type = fields.Str(required=True)
    outcome = fields.Str(required=True)
    detail = fields.Str(required=True)
    agent = fields.Str(required=True)
    at = DateTime(required=True)


class FileProvenanceView(Lenient):
    file_id = fields.Str(required=True)
    filename = fields.Str(required=True)
    fixity_status = fields.Str(allow_none=True)
    last_checked_at = DateTime(allow_none=True)
    events = fields.List(fields.Nested(FileEventView), required=True)


class FixityFailureView(Lenient):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    file_id = fields.Str(required=True)
    filename = fields.Str(required=True)
    checked_at = DateTime(allow_none=True)
    detail = fields.Str(required=True)


class FixityReportView(Lenient):
    files = fields.Int(required=True)
    ok = fields.Int(required=True)
    failed = fields.Int(required=True)
    never_checked = fields.Int(required=True)
    oldest_check = DateTime(allow_none=True)
    failures = fields.List(fields.Nested(FixityFailureView), required=True)


class FixityAuditView(Lenient):
    checked = fields.Int(required=True)
    failed = fields.Int(required=True)


class DoiRegistrationView(Lenient):
    """A DOI Lodge minted and how its registration at DataCite stands."""

    doi = fields.Str(required=True)
    item_id = fields.Str(required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(("version", "concept")))
    state = fields.Str(required=True, validate=validate.OneOf(("reserved", "registered", "failed")))
    attempts = fields.Int(required=True)
    last_error = fields.Str(allow_none=True, load_default=None)
    created_at = DateTime(required=True)
    updated_at = DateTime(required=True)
    registered_at = DateTime(allow_none=True, load_default=None)


class DoiRequest(ActorRequest):
    doi = fields.Str(required=True, validate=validate.Length(min=1, max=200))


class BagExportView(Lenient):
    """An item's preservation export: the last bag (where, its Payload-Oxum, when), a
    pending request from staff, and the last attempt's failure if it failed."""

    exported_at = DateTime(allow_none=True)
    location = fields.Str(allow_none=True)
    payload_oxum = fields.Str(allow_none=True)
    requested_at = DateTime(allow_none=True)
    requested_by = fields.Str(allow_none=True)
    attempted_at = DateTime(allow_none=True)
    error = fields.Str(allow_none=True)


# --- corrections of an archived item's metadata ------------------------------------


class CreatorSchema(Strict):
    name = Text("name", required=True, min_length=1)
    orcid = fields.Str(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(ORCID_ONLY, error="not an ORCID iD"),
    )


class CorrectItemRequest(ActorRequest):
    """A manager's correction of the Dublin Core record and the creators stored on an item.
    `record` holds every element the item should have (an element left out is removed);
    its `creator` values come from `creators`."""

    item_id = fields.Str(required=True)
    record = fields.Dict(
        keys=fields.Str(validate=validate.OneOf(DC_ELEMENTS)),
        values=fields.List(Text("abstract", min_length=1), validate=validate.Length(max=100)),
        required=True,
    )
    creators = fields.List(
        fields.Nested(CreatorSchema), required=True, validate=validate.Length(max=200)
    )
    reason = Text("reason", required=True, min_length=1)


class CorrectionChangeSchema(Lenient):
    element = fields.Str(required=True)  # a Dublin Core element, or "creators"
    before = fields.List(fields.Str(), required=True)
    after = fields.List(fields.Str(), required=True)


class CorrectionView(Lenient):
    """One correction: who, when, why, and each element's values before and after."""

    id = fields.Int(required=True)
    item_id = fields.Str(required=True)
    actor = fields.Nested(PersonRefSchema, required=True)
    at = DateTime(required=True)
    reason = fields.Str(required=True)
    changes = fields.List(fields.Nested(CorrectionChangeSchema), required=True)
