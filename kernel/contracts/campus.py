"""Campus systems: what they send Lodge (deposit requests, as CloudEvents on the inbound
exchange or over HTTP) and what Lodge answers them.

A registered system is known by its broker user or its API token, never by a field of a
message. It sends to the inbound exchange with the routing key `<system>.<topic>`, and reads
what Lodge publishes for it on lodge.events under `system.<system>.…`: its replies, and the
lifecycle events of the deposits it made.
"""

from __future__ import annotations

from enum import StrEnum

from marshmallow import ValidationError, fields, validate, validates_schema

from kernel.contracts.fields import Strict, Text
from kernel.contracts.profiles import AccessChoiceSchema
from kernel.policy.text import user_pattern

SYSTEM_NAME = user_pattern(r"^[a-z0-9][a-z0-9-]{0,39}$")
SHA256 = user_pattern(r"^[0-9a-f]{64}$")
MAX_FILES = 100  # per request; a larger work goes in several requests or over SWORD

INBOX_EXCHANGE = "lodge.inbox"


class Mode(StrEnum):
    """What a system's deposits with a profile become."""

    DRAFT = "draft"  # a draft the patron completes and submits
    SUBMIT = "submit"  # submitted (when asked) for normal approval
    MEDIATED = "mediated"  # deposited on the patron's behalf: approval is skipped


MODES = tuple(mode.value for mode in Mode)


class Topic(StrEnum):
    """The inbound routing key's second word: what kind of request it is."""

    DEPOSIT = "deposit"
    PERSON = "person"


DEPOSIT_REQUESTED = "org.lodge.campus.deposit.requested.v1"
REQUEST_ACCEPTED = "org.lodge.campus.request.accepted.v1"
REQUEST_REFUSED = "org.lodge.campus.request.refused.v1"


def inbox_key(system: str, topic: Topic) -> str:
    """The routing key a system publishes a request with on the inbound exchange."""
    return f"{system}.{topic.value}"


def system_key(system: str, rest: str) -> str:
    """The routing key of what Lodge publishes for one system on lodge.events: `reply`, or
    `<service>.<event>` for the lifecycle of a deposit it made."""
    return f"system.{system}.{rest}"


class PersonLookupSchema(Strict):
    """Who a deposit is for: exactly one of an account's username, its OpenID Connect
    (or SAML) subject with the issuer, or its e-mail address."""

    username = fields.Str(validate=validate.Length(min=1, max=150))
    subject = fields.Str(validate=validate.Length(min=1, max=300))
    issuer = fields.Str(validate=validate.Length(min=1, max=300))
    email = fields.Email(validate=validate.Length(max=300))

    @validates_schema
    def one_way(self, data: dict[str, object], **kwargs: object) -> None:
        ways = [key for key in ("username", "subject", "email") if key in data]
        if len(ways) != 1:
            raise ValidationError("give exactly one of username, subject or email")
        if ("subject" in data) != ("issuer" in data):
            raise ValidationError("a subject needs its issuer, and an issuer a subject")


class S3ObjectSchema(Strict):
    bucket = fields.Str(required=True, validate=validate.Length(min=3, max=63))
    key = fields.Str(required=True, validate=validate.Length(min=1, max=1024))


class FileReferenceSchema(Strict):
    """A file of a deposit request: fetched from an HTTPS URL or the S3 endpoint, or given
    inline (base64, small files only); its size and SHA-256 are checked after the fetch."""

    filename = Text("filename", required=True, min_length=1)
    size = fields.Int(required=True, strict=True, validate=validate.Range(min=0))
    sha256 = fields.Str(required=True, validate=validate.Regexp(SHA256, error="64 hex digits"))
    url = fields.Url(schemes={"https", "http"}, require_tld=False)
    s3 = fields.Nested(S3ObjectSchema)
    content = fields.Str()  # base64

    @validates_schema
    def one_source(self, data: dict[str, object], **kwargs: object) -> None:
        if sum(key in data for key in ("url", "s3", "content")) != 1:
            raise ValidationError("give exactly one of url, s3 or content")


class DepositRequestData(Strict):
    """The `data` of an `org.lodge.campus.deposit.requested.v1` event."""

    depositor = fields.Nested(PersonLookupSchema, required=True)
    profile_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    metadata = fields.Dict(keys=fields.Str(), load_default=dict)
    access = fields.Nested(AccessChoiceSchema, load_default=None, allow_none=True)
    accept_terms = fields.Bool(load_default=False)
    files = fields.List(
        fields.Nested(FileReferenceSchema),
        load_default=list,
        validate=validate.Length(max=MAX_FILES),
    )
    submit = fields.Bool(load_default=False)


class RequestRefSchema(Strict):
    """The request a reply answers: its CloudEvents source, id and type."""

    source = fields.Str(required=True)
    id = fields.Str(required=True)
    type = fields.Str(required=True)


class ErrorSchema(Strict):
    """The REST API's error shape: a code, a message and field messages."""

    code = fields.Str(required=True)
    message = fields.Str(required=True)
    field_messages = fields.Dict(data_key="fields", load_default=dict)


class ReplyData(Strict):
    """The `data` of a reply: accepted (with what it made, `duplicate` when the same
    request came before) or refused (with the error)."""

    request = fields.Nested(RequestRefSchema, required=True)
    duplicate = fields.Bool(load_default=False)
    deposit_id = fields.Str(load_default=None, allow_none=True)
    status = fields.Str(load_default=None, allow_none=True)
    outcome = fields.Dict(load_default=None, allow_none=True)  # what a person event did
    error = fields.Nested(ErrorSchema, load_default=None, allow_none=True)


class OriginSchema(Strict):
    """Where a deposit came from when a campus system made it: intake keeps it, and the
    deposit's lifecycle events carry it, so the system can follow its request."""

    system = fields.Str(required=True, validate=validate.Regexp(SYSTEM_NAME))
    source = fields.Str(required=True, validate=validate.Length(min=1, max=500))
    event_id = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    mode = fields.Str(required=True, validate=validate.OneOf(MODES))
