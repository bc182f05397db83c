"""The field rules every contract shares: identifier patterns, dates on the wire, text
people write, pages, and the strict and lenient bases of the schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from kernel.policy import text
from kernel.policy.text import user_pattern

PROFILE_ID = user_pattern(r"^[a-z0-9][a-z0-9-]{0,63}$")
FIELD_KEY = user_pattern(r"^[a-z][a-z0-9_]{0,63}$")
EXTENSION = user_pattern(r"^\.?[A-Za-z0-9]{1,16}$")
MEDIA_TYPE = user_pattern(r"^[a-z]+/[\w.+-]+$")
LOCALE = user_pattern(r"^[a-z]{2}(-[A-Z]{2})?$")
REASON_CODE = user_pattern(r"^[a-z][a-z0-9_]{0,99}$")
# a profile's or a collection's id, and why a wrong one is refused
LOWER_CASE_ID = validate.Regexp(PROFILE_ID, error="use lower-case letters, digits and hyphens")

# what a profile's form lets through: the profile schema and the metadata bodies state it
TEXT_RULES = (
    "Metadata is checked against the profile's form. Text is kept in Unicode NFC; a "
    "character XML 1.0 cannot carry, a lone surrogate or a bidirectional override "
    "(U+202A-U+202E, U+2066-U+2069) is refused with 422 naming the field. Each value's "
    "length limit, in "
    f"characters: the field mapped to dc:title {text.LIMITS['title']}; text "
    f"{text.LIMITS['text']}; long_text {text.LIMITS['abstract']}; a keyword "
    f"{text.LIMITS['keyword']}; a person's name {text.LIMITS['name']}."
)


# Values that crossed the wire once already are ISO strings; a second dump keeps them.


class DateTime(fields.DateTime):
    """ISO 8601 on the wire."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value if isinstance(value, str) else super()._serialize(value, attr, obj, **kwargs)


class Date(fields.Date):
    """ISO 8601 on the wire."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value if isinstance(value, str) else super()._serialize(value, attr, obj, **kwargs)


class Text(fields.Str):
    """Text a person wrote, of a kind in `text.LIMITS`: refused characters are a field
    error, the value is kept in NFC, and its length limit is the kind's (and the schema's)."""

    def __init__(self, kind: str, *, min_length: int | None = None, **kwargs: Any) -> None:
        self.kind = kind
        kwargs["validate"] = validate.Length(min=min_length, max=text.LIMITS[kind])
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
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


def page_of(item_schema: type[Schema]) -> type[Schema]:
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "page": fields.Int(required=True),
            "per_page": fields.Int(required=True),
            "total": fields.Int(required=True),
        },
        name=f"{item_schema.__name__.removesuffix('View').removesuffix('Schema')}Page",
    )
