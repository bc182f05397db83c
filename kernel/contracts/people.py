"""People as the contracts carry them: the actor a call is made for, and a person named in
history, events and letters."""

from __future__ import annotations

from marshmallow import fields, validate

from kernel.contracts.fields import Lenient

ROLES = ("patron", "approver", "staff", "manager", "admin")
LOCALES = {"en": "English", "de": "Deutsch"}  # the languages Lodge speaks, each in its own words
DEFAULT_LOCALE = "en"


class ActorSchema(Lenient):
    id = fields.Str(required=True)
    username = fields.Str(load_default=None)
    name = fields.Str(load_default="")
    email = fields.Str(load_default="")
    groups = fields.List(fields.Str(), load_default=list)
    roles = fields.List(fields.Str(validate=validate.OneOf(ROLES)), load_default=list)
    locale = fields.Str(load_default="en")


class PersonRefSchema(Lenient):
    """Who did something, as history and letters show it."""

    id = fields.Str(required=True)
    name = fields.Str(load_default="")
    email = fields.Str(load_default="")
    locale = fields.Str(load_default="en")
