"""OAI-PMH: the metadata formats Lodge disseminates, and the harvest calls."""

from __future__ import annotations

from marshmallow import fields, validate

from kernel.contracts.fields import DateTime, Lenient, Strict

XSI = "http://www.w3.org/2001/XMLSchema-instance"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DATACITE = "http://datacite.org/schema/kernel-4"
DC = "http://purl.org/dc/elements/1.1/"
OAIRE = "http://namespace.openaire.eu/schema/oaire/"

# prefix → (schema, namespace); the formats the OAI-PMH interface disseminates
METADATA_FORMATS = {
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC),
    "datacite": ("http://schema.datacite.org/meta/kernel-4.4/metadata.xsd", DATACITE),
    # OpenAIRE Guidelines for Literature Repositories 4.0
    "oai_openaire": ("https://www.openaire.eu/schema/repo-lit/4.0/openaire.xsd", OAIRE),
}
OAI_METADATA_PREFIXES = tuple(METADATA_FORMATS)


class HarvestRequest(Strict):
    """A page of OAI records after a keyset position; headers only without a prefix."""

    metadata_prefix = fields.Str(
        load_default=None, allow_none=True, validate=validate.OneOf(OAI_METADATA_PREFIXES)
    )
    since = DateTime(load_default=None, allow_none=True)
    until = DateTime(load_default=None, allow_none=True)
    set_spec = fields.Str(load_default=None, allow_none=True)
    after_datestamp = DateTime(load_default=None, allow_none=True)
    after_id = fields.Str(load_default=None, allow_none=True)
    limit = fields.Int(load_default=100, validate=validate.Range(min=1, max=1000))


class OaiRecordRequest(Strict):
    identifier = fields.Str(required=True)
    metadata_prefix = fields.Str(
        load_default=None, allow_none=True, validate=validate.OneOf(OAI_METADATA_PREFIXES)
    )


class OaiRecordView(Lenient):
    item_id = fields.Str(required=True)
    identifier = fields.Str(required=True)
    datestamp = DateTime(required=True)
    sets = fields.List(fields.Str(), required=True)
    deleted = fields.Bool(required=True)
    metadata = fields.Str(allow_none=True)  # the serialised XML element


class HarvestPageView(Lenient):
    records = fields.List(fields.Nested(OaiRecordView), required=True)
    more = fields.Bool(required=True)


class RepositorySummaryView(Lenient):
    earliest_datestamp = DateTime(allow_none=True)
