"""Validation's reports on a deposit and its files, and the calls that check files."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from kernel.contracts.fields import DateTime, Lenient, Strict
from kernel.contracts.profiles import FileRulesSchema


class FileCheckSchema(Lenient):
    check = fields.Str(required=True)
    passed = fields.Bool(required=True)
    message = fields.Str(required=True)
    # the message as a code and its parameters, for the web front to translate
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


class CheckFileRequest(Strict):
    storage_key = fields.Str(required=True)
    filename = fields.Str(required=True)
    file_rules = fields.Nested(FileRulesSchema, required=True)
    # given, the result is kept for prechecks() (the editor shows it after a reload)
    file_id = fields.Str(load_default=None, allow_none=True)


class DepositReportRequest(Strict):
    deposit_id = fields.Str(required=True)
    revision = fields.Int(required=True)


class PrechecksRequest(Strict):
    file_ids = fields.List(fields.Str(), required=True, validate=validate.Length(max=1000))


PrechecksView = Schema.from_dict(
    {
        "prechecks": fields.Dict(
            keys=fields.Str(), values=fields.Nested(FileReportSchema), required=True
        )
    },
    name="PrechecksView",
)

# shared instances of schemas used on every event
validation_report_schema = ValidationReportSchema()
