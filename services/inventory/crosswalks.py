"""Crosswalks: a profile's metadata to Dublin Core, and Dublin Core to oai_dc and DataCite XML.

An item keeps its record as Dublin Core elements (JSON, each a list of strings) plus the
creators with their ORCID iDs; the XML serialisations are rendered from those, so a
harvest page costs a few lxml calls per record and no joins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from lxml import etree

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


def _tostring(root: etree._Element) -> str:
    # lxml has no type information here; encoding="unicode" makes it a str
    return cast(str, etree.tostring(root, encoding="unicode"))


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


def datacite(item: dict[str, Any]) -> str:
    """The item as a DataCite kernel-4 <resource>: identifier, creators, title, publisher,
    publication year and resource type (mandatory), then what else the record holds."""
    record = item["record"]

    def sub(
        parent: etree._Element, name: str, text: str | None = None, **attributes: str
    ) -> etree._Element:
        element = etree.SubElement(parent, f"{{{DATACITE}}}{name}", attributes)
        if text is not None:
            element.text = text
        return element

    def listed(container: str, element: str, values: list[str], **attributes: str) -> None:
        if values:
            parent = sub(root, container)
            for value in values:
                sub(parent, element, value, **attributes)

    root = etree.Element(f"{{{DATACITE}}}resource", nsmap={None: DATACITE, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{DATACITE} {METADATA_FORMATS['datacite'][0]}")
    # the DOI is the identifier when there is one; the local one is then an alternate
    if item.get("doi"):
        sub(root, "identifier", item["doi"], identifierType="DOI")
    else:
        sub(root, "identifier", item["identifier"], identifierType=scheme(item["identifier"]))
    people = item.get("creators") or [
        {"name": name, "orcid": None} for name in record.get("creator", [])
    ]
    container = sub(root, "creators")
    for person in people or [{"name": "(:unav)", "orcid": None}]:
        creator = sub(container, "creator")
        sub(creator, "creatorName", person["name"])
        if person.get("orcid"):
            sub(
                creator,
                "nameIdentifier",
                person["orcid"],
                nameIdentifierScheme="ORCID",
                schemeURI="https://orcid.org",
            )
    listed("titles", "title", record.get("title") or ["(:unav)"])
    sub(root, "publisher", (record.get("publisher") or [item["repository_name"]])[0])
    sub(root, "publicationYear", _publication_year(record.get("date", []), item["created_at"]))
    kind = resource_types.get(item.get("resource_type"))
    sub(root, "resourceType", kind.label, resourceTypeGeneral=kind.datacite)
    listed("subjects", "subject", record.get("subject", []))
    listed("dates", "date", record.get("date", [])[:1], dateType="Issued")
    if record.get("language"):
        sub(root, "language", record["language"][0])
    alternates = sub(root, "alternateIdentifiers")
    if item.get("doi"):
        sub(
            alternates,
            "alternateIdentifier",
            item["identifier"],
            alternateIdentifierType=scheme(item["identifier"]),
        )
    sub(alternates, "alternateIdentifier", item["landing_url"], alternateIdentifierType="URL")
    if item.get("relations"):
        related = sub(root, "relatedIdentifiers")
        for relation in item["relations"]:
            sub(
                related,
                "relatedIdentifier",
                relation["identifier"],
                relatedIdentifierType=relation["identifier_type"],
                relationType=relation["relation_type"],
            )
    listed("formats", "format", sorted(set(item.get("formats", []))))
    listed("rightsList", "rights", record.get("rights", []))
    listed("descriptions", "description", record.get("description", []), descriptionType="Abstract")
    return _tostring(root)


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
