"""Deposit profiles: their form, file rules, approval rule and access policy, and the
calls that read and save them."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, ValidationError, fields, validate, validates_schema

from kernel.contracts.fields import (
    EXTENSION,
    FIELD_KEY,
    MEDIA_TYPE,
    PROFILE_ID,
    TEXT_RULES,
    Date,
    DateTime,
    Lenient,
    Strict,
)
from kernel.contracts.people import ROLES
from kernel.contracts.resource_types import DEFAULT as DEFAULT_RESOURCE_TYPE
from kernel.contracts.resource_types import RESOURCE_TYPES
from kernel.contracts.rpc import ActorRequest

FIELD_TYPES = (
    "text",
    "long_text",
    "date",
    "url",
    "language",
    "choice",
    "person",
    "keywords",
    "licence",
)
DC_ELEMENTS = (
    "title",
    "creator",
    "subject",
    "description",
    "publisher",
    "contributor",
    "date",
    "type",
    "format",
    "identifier",
    "source",
    "language",
    "relation",
    "coverage",
    "rights",
)
ACCESS_POLICIES = ("open", "campus", "embargo")
MEDIATOR_ROLES = ROLES[1:]  # every role but patron: mediators work for the library


class FormFieldSchema(Strict):
    key = fields.Str(required=True, validate=validate.Regexp(FIELD_KEY))
    label = fields.Str(required=True)
    help = fields.Str(load_default="")
    type = fields.Str(
        required=True, validate=validate.OneOf(FIELD_TYPES), metadata={"description": TEXT_RULES}
    )
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
    allowed_extensions = fields.List(
        fields.Str(validate=validate.Regexp(EXTENSION)), load_default=list
    )
    allowed_media_types = fields.List(
        fields.Str(validate=validate.Regexp(MEDIA_TYPE)), load_default=list
    )
    metadata_only_allowed = fields.Bool(load_default=False)
    virus_scan = fields.Bool(load_default=False)

    @validates_schema
    def _limits_agree(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["min_files"] > data["max_files"]:
            raise ValidationError("must not exceed max_files", "min_files")
        if data["max_file_size"] > data["max_total_size"]:
            raise ValidationError("must not exceed max_total_size", "max_file_size")


class ApprovalRuleSchema(Strict):
    mode = fields.Str(required=True, validate=validate.OneOf(("automatic", "manual")))
    approver_groups = fields.List(fields.Str(), load_default=list)
    # days from entering review to a decision; absent means no target
    turnaround_days = fields.Int(allow_none=True, validate=validate.Range(min=1, max=365))


class MediatorsSchema(Strict):
    """Who may deposit with a profile on a patron's behalf: staff who also hold one of
    `roles` or are in one of `groups`. Such deposits skip approval, so a profile that names
    nobody allows the staff role only while it is active and open to every group."""

    roles = fields.List(
        fields.Str(validate=validate.OneOf(MEDIATOR_ROLES)),
        load_default=list,
        validate=validate.Length(max=len(MEDIATOR_ROLES)),
    )
    groups = fields.List(
        fields.Str(validate=validate.Length(min=1, max=200)),
        load_default=list,
        validate=validate.Length(max=50),
    )


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
    resource_type = fields.Str(
        load_default=DEFAULT_RESOURCE_TYPE,
        validate=validate.OneOf(tuple(RESOURCE_TYPES)),
        metadata={
            "description": "The COAR resource type of the "
            "profile's items: dc:type, DataCite "
            "resourceTypeGeneral and Schema.org type follow it."
        },
    )
    # absent (None): the staff role, for an active profile open to every group only
    mediators = fields.Nested(
        MediatorsSchema,
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Who may deposit with this profile on a patron's behalf (such deposits "
            "skip approval): staff holding one of the roles or in one of the groups. "
            "Absent or null: the staff role, but only while the profile is active "
            "and has no allowed_groups; otherwise nobody."
        },
    )

    @validates_schema
    def _coherent(self, data: dict[str, Any], **kwargs: Any) -> None:
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
    # marshmallow binds an instance's own `fields` in __init__; the wire's key wins here
    fields = fields.List(  # type: ignore[assignment]
        fields.Nested(FormFieldSchema), required=True, validate=validate.Length(min=1)
    )


class ProfileView(ProfileDefinitionSchema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Str(required=True)
    version = fields.Int(required=True)
    created_at = DateTime()


class ProfileVersionView(Lenient):
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
    fields = fields.List(fields.Nested(FormFieldSchema), load_default=list)  # type: ignore[assignment]


class AccessChoiceSchema(Strict):
    """The access a depositor chose within the profile's policy."""

    policy = fields.Str(required=True, validate=validate.OneOf(ACCESS_POLICIES))
    embargo_until = Date(load_default=None, allow_none=True)


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
