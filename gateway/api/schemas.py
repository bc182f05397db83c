"""Request bodies of the REST API. Responses are the shared contracts' views."""

from marshmallow import ValidationError, fields, validate, validates_schema

from kernel.contracts.approval import DECISIONS
from kernel.contracts.fields import LOWER_CASE_ID, TEXT_RULES, Strict, Text
from kernel.contracts.letters import DeliveryView
from kernel.contracts.profiles import AccessChoiceSchema, ProfileDefinitionSchema
from kernel.contracts.validation import FileReportSchema

EXAMPLE_METADATA = {
    "title": "Tidal patterns of the Wadden Sea",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Ten years of tide gauges.",
    "date": "2026-05",
}


class CreateDepositBody(Strict):
    profile_id = fields.Str(required=True, metadata={"example": "open-works"})
    metadata = fields.Dict(
        load_default=dict, metadata={"example": EXAMPLE_METADATA, "description": TEXT_RULES}
    )
    on_behalf_of = fields.Str(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "user id or username of the depositor (staff "
            "whom the profile names among its mediators)"
        },
    )


class UpdateDepositBody(Strict):
    metadata = fields.Dict(
        load_default=None, metadata={"example": EXAMPLE_METADATA, "description": TEXT_RULES}
    )
    accept_terms = fields.Bool(load_default=None)
    access = fields.Nested(AccessChoiceSchema, load_default=None)

    @validates_schema
    def _asks_for_a_change(self, data, **kwargs):
        if all(value is None for value in data.values()):
            raise ValidationError("send metadata, accept_terms or access", "body")


class CreateProfileBody(ProfileDefinitionSchema):
    id = fields.Str(
        required=True,
        validate=LOWER_CASE_ID,
    )


class ProfileQuery(Strict):
    version = fields.Int(load_default=None, validate=validate.Range(min=1))


class ListProfilesQuery(Strict):
    include_inactive = fields.Bool(load_default=False)
    # only those the caller may deposit with on a patron's behalf
    mediated = fields.Bool(load_default=False)


class DepositActionBody(Strict):
    note = Text("note", load_default=None, allow_none=True)


class ReviewActionBody(Strict):
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = Text("note", load_default=None, allow_none=True)
    metadata = fields.Dict(
        load_default=None,
        allow_none=True,
        metadata={"description": "saved before the decision (approve, decline, return)"},
    )
    assignee = fields.Str(
        load_default=None,
        allow_none=True,
        metadata={"description": "user id, username or e-mail (assign)"},
    )


class ListDepositsQuery(Strict):
    status = fields.Str(load_default=None)
    depositor = fields.Str(load_default=None)
    page = fields.Int(load_default=1)
    per_page = fields.Int(load_default=25)


class ListReviewsQuery(Strict):
    state = fields.Str(load_default="open")
    assignee = fields.Str(load_default=None)
    page = fields.Int(load_default=1)
    per_page = fields.Int(load_default=25)


class UploadQuery(Strict):
    filename = fields.Str(load_default=None)


class FileCreated(Strict):
    id = fields.Str(required=True)
    filename = fields.Str(required=True)
    size = fields.Int(required=True)
    sha256 = fields.Str(required=True)
    media_type = fields.Str(required=True)
    # validation's quick pre-check, messages in the caller's language; null if it could not run
    precheck = fields.Nested(FileReportSchema, allow_none=True)


class DeliveryLog(Strict):
    """A deposit's letters: staff see all of them, a depositor the ones sent to them."""

    items = fields.List(fields.Nested(DeliveryView), required=True)


class WithdrawItemBody(Strict):
    reason = Text("reason", required=True, min_length=1)


class QueueQuery(Strict):
    tab = fields.Str(load_default="all")
    profile_id = fields.Str(load_default=None)
    collection = fields.Str(load_default=None)
    depositor = fields.Str(load_default=None)
    older_than_days = fields.Int(load_default=None)
    overdue = fields.Bool(load_default=False)
    sort = fields.Str(load_default="oldest")
    page = fields.Int(load_default=1)
    per_page = fields.Int(load_default=25)


class BulkDecisionBody(Strict):
    deposit_ids = fields.List(fields.Str(), required=True)
    decision = fields.Str(required=True, validate=validate.OneOf(DECISIONS))
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = Text("note", load_default=None, allow_none=True)


class NoteBody(Strict):
    text = Text("note", required=True)


class ReviewMetadataBody(Strict):
    metadata = fields.Dict(required=True, metadata={"description": TEXT_RULES})


class LetterPreviewBody(Strict):
    decision = fields.Str(required=True, validate=validate.OneOf(DECISIONS))
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = Text("note", load_default=None, allow_none=True)


class ReasonBody(Strict):
    label = Text("label", required=True, min_length=1)
    is_default = fields.Bool(load_default=False)


class CreatorBody(Strict):
    name = Text("name", required=True, min_length=1)
    orcid = fields.Str(
        load_default=None,
        allow_none=True,
        metadata={"example": "0000-0002-1825-0097", "description": "an ORCID iD's digits"},
    )


class CorrectItemBody(Strict):
    """A correction: the whole record as it should be (each element a list of values, an
    element left out is removed; `creator` comes from `creators`) and why."""

    record = fields.Dict(
        keys=fields.Str(),
        values=fields.List(fields.Str()),
        required=True,
        metadata={"example": {"title": ["Tidal patterns of the Wadden Sea"], "date": ["2026"]}},
    )
    creators = fields.List(fields.Nested(CreatorBody), required=True)
    reason = Text("reason", required=True, min_length=1)
