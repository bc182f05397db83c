"""Letters: their types, templates, recipients and deliveries, and previews of a letter."""

from __future__ import annotations

from marshmallow import fields, validate

from kernel.contracts.deposits import DepositView
from kernel.contracts.fields import LOCALE, DateTime, Lenient, Strict
from kernel.contracts.people import ActorSchema
from kernel.contracts.rpc import ActorRequest

LETTER_PARTS = ("subject", "html", "text")  # what a letter template is made of
LETTER_TYPES = (
    "deposit_submitted",
    "validation_failed",
    "deposit_archived",
    "deposit_declined",
    "deposit_returned",
    "deposit_withdrawn",
    "deposit_created_on_behalf",
    "review_requested",
    "review_overdue",
    "review_digest",
    "draft_expiring",
    "draft_expired",
    "token_expiring",
)
LETTER_DELIVERY = ("immediate", "digest")


class ReviewRuleSchema(Lenient):
    """What letters need of the profile's approval rule when a deposit enters review."""

    profile_name = fields.Str(load_default="")
    mode = fields.Str(load_default="manual")
    approver_groups = fields.List(fields.Str(), load_default=list)
    turnaround_days = fields.Int(allow_none=True, load_default=None)


class PreviewLetterRequest(Strict):
    """The letter a decision would send, rendered without sending it."""

    letter_type = fields.Str(required=True)
    locale = fields.Str(load_default=None, allow_none=True)
    deposit = fields.Nested(DepositView, required=True)
    reason_code = fields.Str(load_default=None, allow_none=True)
    reason_label = fields.Str(load_default=None, allow_none=True)
    note = fields.Str(load_default=None, allow_none=True)


class LetterPreviewView(Lenient):
    letter_type = fields.Str(required=True)
    locale = fields.Str(required=True)
    subject = fields.Str(required=True)
    text = fields.Str(required=True)
    html = fields.Str(allow_none=True, load_default=None)


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


class LetterTemplateVersionView(Lenient):
    version = fields.Int(required=True)
    created_by = fields.Str(required=True)
    created_at = DateTime(required=True)
    is_default = fields.Bool(required=True)


class LetterTemplateView(Lenient):
    letter_type = fields.Str(required=True)
    locale = fields.Str(required=True)
    written_in = fields.Str(required=True)  # the locale it falls back to, if not its own
    version = fields.Int(allow_none=True)  # None: the shipped default, never saved
    is_default = fields.Bool(required=True)
    subject = fields.Str(required=True)
    html = fields.Str(required=True)
    text = fields.Str(required=True)
    variables = fields.List(fields.Str(), load_default=list)
    versions = fields.List(fields.Nested(LetterTemplateVersionView), load_default=list)


class LetterTemplateSummaryView(Lenient):
    letter_type = fields.Str(required=True)
    locale = fields.Str(required=True)
    version = fields.Int(allow_none=True)
    is_default = fields.Bool(required=True)
    has_own_default = fields.Bool(required=True)
    updated_by = fields.Str(allow_none=True)
    updated_at = DateTime(allow_none=True)


class TokenExpiringRequest(Strict):
    """Letters is asked to warn a token's owner that it expires soon; `key` makes a
    repeated request one letter."""

    key = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    recipient = fields.Nested(ActorSchema, required=True)
    token_name = fields.Str(load_default="", validate=validate.Length(max=100))
    token_prefix = fields.Str(required=True, validate=validate.Length(max=12))
    expires_at = DateTime(required=True)


class SaveRecipientRequest(ActorRequest):
    """A staff user as letters know them; `delivery` None keeps their choice."""

    delivery = fields.Str(
        load_default=None, allow_none=True, validate=validate.OneOf(LETTER_DELIVERY)
    )


class RecipientView(Lenient):
    id = fields.Str(required=True)
    name = fields.Str(required=True)
    email = fields.Str(required=True)
    locale = fields.Str(required=True)
    delivery = fields.Str(required=True)


class DeliveriesRequest(ActorRequest):
    deposit_id = fields.Str(required=True)


class DeliveryView(Lenient):
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
