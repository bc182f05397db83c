"""Person events from the campus identity system: someone arrived, their groups or
affiliation changed, or they left. The inbox worker receives them (CloudEvents
`org.lodge.campus.person.created.v1`, `.changed.v1`, `.left.v1`); this is the `data`."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.fields import Strict, Text
from kernel.contracts.rpc import load_or_raise
from kernel.policy import text

PERSON_EVENT_KINDS = ("created", "changed", "left")
PERSON_EVENT_TYPES = {f"org.lodge.campus.person.{kind}.v1": kind for kind in PERSON_EVENT_KINDS}
# identifiers and attribute values are at most a name's length (300 characters)
IDENTIFIER = text.LIMITS["name"]
MAX_ATTRIBUTES = 50
MAX_VALUES = 200


class PersonKeySchema(Strict):
    """Who the event is about: the identity provider's (issuer, subject), as an account
    signed in through OIDC or SAML is keyed, or an existing account's username or e-mail."""

    issuer = Text("name", min_length=1)
    subject = Text("name", min_length=1)
    username = Text("name", min_length=1)
    email = fields.Email(validate=validate.Length(max=IDENTIFIER))

    @validates_schema
    def one_key(self, data: dict[str, Any], **kwargs: Any) -> None:
        keys = set(data)
        if keys not in ({"issuer", "subject"}, {"username"}, {"email"}):
            raise ValidationError(
                "name the person by issuer and subject, by username, or by email", "_schema"
            )


_VALUE = Text("name")


class AttributeValues(fields.Field[list[str]]):
    """An attribute's value: one string or a list of strings, as OIDC claims and SAML
    attributes come."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        values = value if isinstance(value, list) else [value]
        if len(values) > MAX_VALUES:
            raise ValidationError(f"at most {MAX_VALUES} values")
        return [str(_VALUE.deserialize(item)) for item in values]


class PersonEventData(Strict):
    person = fields.Nested(PersonKeySchema, required=True)
    name = Text("name")
    email = fields.Email(validate=validate.Length(max=IDENTIFIER))
    attributes = fields.Dict(
        keys=Text("name", min_length=1),
        values=AttributeValues(),
        validate=validate.Length(max=MAX_ATTRIBUTES),
        load_default=dict,
    )


def load_person_event(kind: str, data: Any) -> dict[str, Any]:
    """The event's data checked, or InvalidInput naming each wrong field."""
    if kind not in PERSON_EVENT_KINDS:
        raise InvalidInput(
            "The person event is not valid.",
            fields={"kind": [f"must be one of {', '.join(PERSON_EVENT_KINDS)}"]},
        )
    if not isinstance(data, dict):
        raise InvalidInput(
            "The person event is not valid.", fields={"_schema": ["the data must be an object"]}
        )
    return load_or_raise(PersonEventData(), data)
