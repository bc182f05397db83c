"""Request bodies of the REST API. Responses are the shared contracts' views."""
from marshmallow import fields, validate

from services.common.contracts import Strict


class CreateDepositBody(Strict):
    profile_id = fields.Str(required=True)
    metadata = fields.Dict(load_default=dict)
    on_behalf_of = fields.Str(load_default=None, allow_none=True,
                              metadata={"description": "user id or username of the depositor"})


class UpdateDepositBody(Strict):
    metadata = fields.Dict(required=True)


class DepositActionBody(Strict):
    note = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=10000))


class ReviewActionBody(Strict):
    reason_code = fields.Str(load_default=None, allow_none=True)
    note = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=10000))


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
