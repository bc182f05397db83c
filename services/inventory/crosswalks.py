"""Crosswalks: a profile's metadata to Dublin Core, and Dublin Core to oai_dc and DataCite XML.

An item keeps its record as Dublin Core elements (JSON, each a list of strings) plus the
creators with their ORCID iDs; the XML serialisations are rendered from those, so a
harvest page costs a little string building per record and no joins. oai_dc and DataCite
are written as escaped text (`xml_text`, `xml_attribute`): building them as lxml elements
cost a harvest page more than everything else inventory does for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kernel.contracts import resource_types
from kernel.contracts.oai import DATACITE, DC, METADATA_FORMATS, OAI_DC, XSI
from kernel.contracts.profiles import DC_ELEMENTS
from kernel.policy.text import user_pattern
from services.inventory.identifiers import scheme
from services.inventory.openaire import openaire

_YEAR = user_pattern(r"(\d{4})")


def _values(value: Any) -> list[Any]:
    if value in (None, "", [], {}):
        return []
    return value if isinstance(value, list) else [value]


def dublin_core(form: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, list[str]]:
    """Map metadata to Dublin Core elements by the profile's field mapping (`dc`)."""
    record: dict[str, list[str]] = {}
    for field in form:
        element = field.get("dc")
        if not element:
            continue
        for value in _values(metadata.get(field["key"])):
            if isinstance(value, dict):  # a person; the ORCID iD goes to creators()
                value = value.get("name", "")
            if str(value).strip():
                record.setdefault(element, []).append(str(value))
    return record


def creators(form: list[dict[str, Any]], metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The people of the fields mapped to dc:creator, with their ORCID iDs where given."""
    people = []
    for field in form:
        if field.get("dc") != "creator" or field["type"] != "person":
            continue
        for person in _values(metadata.get(field["key"])):
            if isinstance(person, dict) and person.get("name"):
                people.append({"name": person["name"], "orcid": person.get("orcid") or None})
    return people


def dc_types(item: dict[str, Any]) -> list[str]:
    """dc:type: the item's resource type (COAR label and URI, DCMI type), then what the
    profile's own fields mapped to dc:type (a degree, say)."""
    kind = resource_types.get(item.get("resource_type"))
    types = [kind.label, kind.uri, kind.dcmi]
    return types + [value for value in item["record"].get("type", []) if value not in types]


_OAI_DC_OPEN = (
    f'<oai_dc:dc xmlns:oai_dc="{OAI_DC}" xmlns:dc="{DC}" xmlns:xsi="{XSI}" '
    f'xsi:schemaLocation="{OAI_DC} {METADATA_FORMATS["oai_dc"][0]}">'
)


def xml_text(value: str) -> str:
    """`value` escaped as XML element text; a carriage return too, which a parser would
    otherwise read as a newline. (Chained replaces: several times faster than translate.)"""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def oai_dc(item: dict[str, Any]) -> str:
    """The item as an <oai_dc:dc> element (OAI-PMH's required format). Written as text: its
    elements are flat and have no attributes, and building them as lxml elements cost a
    harvest page most of its time. The record is clean (`clean_tree`), so escaping is all
    its text needs."""
    record = item["record"]
    parts = [_OAI_DC_OPEN]
    for element in DC_ELEMENTS:
        values = list(record.get(element, []))
        if element == "identifier":
            values = [item["identifier"], item["landing_url"], *doi_urls(item), *values]
        elif element == "type":
            values = dc_types(item)
        elif element == "relation":
            values += [relation_url(item, relation) for relation in item.get("relations", [])]
        parts.extend(f"<dc:{element}>{xml_text(value)}</dc:{element}>" for value in values)
    parts.append("</oai_dc:dc>")
    return "".join(parts)


def doi_urls(item: dict[str, Any]) -> list[str]:
    """The item's DOI as a link (how DOIs are to be shown), if it has one."""
    return [f"https://doi.org/{item['doi']}"] if item.get("doi") else []


def relation_url(item: dict[str, Any], relation: dict[str, str]) -> str:
    """A related version or work as a link: the DOI's, else the repository's resolver."""
    if relation["identifier_type"] == "DOI":
        return f"https://doi.org/{relation['identifier']}"
    return f"{item['resolver']}{relation['identifier']}"


def xml_attribute(value: str) -> str:
    """`value` escaped as an XML attribute's value in double quotes; white space other
    than a space as references, which a parser would otherwise make spaces."""
    return xml_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _element(name: str, text: str, **attributes: str) -> str:
    shown = "".join(f' {key}="{xml_attribute(value)}"' for key, value in attributes.items())
    return f"<{name}{shown}>{xml_text(text)}</{name}>"


def _listed(container: str, element: str, values: list[str], **attributes: str) -> str:
    if not values:
        return ""
    inside = "".join(_element(element, value, **attributes) for value in values)
    return f"<{container}>{inside}</{container}>"


_DATACITE_OPEN = (
    f'<resource xmlns="{DATACITE}" xmlns:xsi="{XSI}" '
    f'xsi:schemaLocation="{DATACITE} {METADATA_FORMATS["datacite"][0]}">'
)


def datacite(item: dict[str, Any]) -> str:
    """The item as a DataCite kernel-4 <resource>: identifier, creators, title, publisher,
    publication year and resource type (mandatory), then what else the record holds.
    Written as text, as oai_dc is, for the same reason."""
    record = item["record"]
    parts = [_DATACITE_OPEN]
    # the DOI is the identifier when there is one; the local one is then an alternate
    if item.get("doi"):
        parts.append(_element("identifier", item["doi"], identifierType="DOI"))
    else:
        identifier = item["identifier"]
        parts.append(_element("identifier", identifier, identifierType=scheme(identifier)))
    people = item.get("creators") or [
        {"name": name, "orcid": None} for name in record.get("creator", [])
    ]
    parts.append("<creators>")
    for person in people or [{"name": "(:unav)", "orcid": None}]:
        orcid = person.get("orcid")
        parts.append(
            f"<creator>{_element('creatorName', person['name'])}"
            + (
                _element(
                    "nameIdentifier",
                    orcid,
                    nameIdentifierScheme="ORCID",
                    schemeURI="https://orcid.org",
                )
                if orcid
                else ""
            )
            + "</creator>"
        )
    parts.append("</creators>")
    parts.append(_listed("titles", "title", record.get("title") or ["(:unav)"]))
    parts.append(_element("publisher", (record.get("publisher") or [item["repository_name"]])[0]))
    year = _publication_year(record.get("date", []), item["created_at"])
    parts.append(_element("publicationYear", year))
    kind = resource_types.get(item.get("resource_type"))
    parts.append(_element("resourceType", kind.label, resourceTypeGeneral=kind.datacite))
    parts.append(_listed("subjects", "subject", record.get("subject", [])))
    parts.append(_listed("dates", "date", record.get("date", [])[:1], dateType="Issued"))
    if record.get("language"):
        parts.append(_element("language", record["language"][0]))
    parts.append("<alternateIdentifiers>")
    if item.get("doi"):
        identifier = item["identifier"]
        parts.append(
            _element("alternateIdentifier", identifier, alternateIdentifierType=scheme(identifier))
        )
    parts.append(
        _element("alternateIdentifier", item["landing_url"], alternateIdentifierType="URL")
    )
    parts.append("</alternateIdentifiers>")
    if item.get("relations"):
        parts.append("<relatedIdentifiers>")
        parts.extend(
            _element(
                "relatedIdentifier",
                relation["identifier"],
                relatedIdentifierType=relation["identifier_type"],
                relationType=relation["relation_type"],
            )
            for relation in item["relations"]
        )
        parts.append("</relatedIdentifiers>")
    parts.append(_listed("formats", "format", sorted(set(item.get("formats", [])))))
    parts.append(_listed("rightsList", "rights", record.get("rights", [])))
    parts.append(
        _listed(
            "descriptions",
            "description",
            record.get("description", []),
            descriptionType="Abstract",
        )
    )
    parts.append("</resource>")
    return "".join(parts)


def _publication_year(dates: list[str], created_at: str) -> str:
    for value in dates:
        match = _YEAR.match(value.lstrip())
        if match:
            return match.group(1)
    return created_at[:4]


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "oai_dc": oai_dc,
    "datacite": datacite,
    "oai_openaire": openaire,
}
