"""The item as an OpenAIRE Guidelines for Literature Repositories 4.0 record (oai_openaire).

An <oaire:resource> mixes DataCite, Dublin Core and OpenAIRE's own elements. The schema
checks little of what OpenAIRE's validator asks (its elements sit in one unbounded
choice), so this crosswalk always writes the mandatory ones: a title, the identifier, the
resource type and access rights with their COAR URIs, the publication date. Vocabulary
values come from the same tables the schema enumerates, and a relation whose type the
schema does not know is left out rather than made up.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from lxml import etree

from kernel.contracts import resource_types
from kernel.contracts.oai import DATACITE, DC, METADATA_FORMATS, OAIRE, XSI
from kernel.policy.text import user_pattern

COAR_ACCESS = "http://purl.org/coar/access_right/"
# COAR access rights: what each means, and its preferred label
ACCESS_RIGHTS = {
    "open": ("c_abf2", "open access"),
    "embargoed": ("c_f1cf", "embargoed access"),
    "restricted": ("c_16ec", "restricted access"),
    "metadata only": ("c_14cb", "metadata only access"),
}
# OpenAIRE's resourceTypeGeneral → the objectType of the item's files
OBJECT_TYPES = {
    "literature": "fulltext",
    "dataset": "dataset",
    "software": "software",
    "other research product": "other",
}
# DataCite relationType and relatedIdentifierType values OpenAIRE 4.0's schema takes
RELATION_TYPES = frozenset(
    (
        "IsCitedBy",
        "Cites",
        "IsSupplementTo",
        "IsSupplementedBy",
        "IsContinuedBy",
        "Continues",
        "IsDescribedBy",
        "Describes",
        "HasVersion",
        "IsVersionOf",
        "IsNewVersionOf",
        "IsPreviousVersionOf",
        "IsPartOf",
        "HasPart",
        "IsReferencedBy",
        "References",
        "IsDocumentedBy",
        "Documents",
        "IsCompiledBy",
        "Compiles",
        "IsVariantFormOf",
        "IsOriginalFormOf",
        "IsIdenticalTo",
        "HasMetadata",
        "IsMetadataFor",
        "Reviews",
        "IsReviewedBy",
        "IsDerivedFrom",
        "IsSourceOf",
        "IsRequiredBy",
        "Requires",
    )
)
RELATED_IDENTIFIER_TYPES = frozenset(
    (
        "ARK",
        "arXiv",
        "bibcode",
        "DOI",
        "EAN13",
        "EISSN",
        "Handle",
        "IGSN",
        "ISBN",
        "ISSN",
        "ISTC",
        "LISSN",
        "LSID",
        "PISSN",
        "PMID",
        "PURL",
        "UPC",
        "URL",
        "URN",
        "WOS",
    )
)
# W3CDTF, as OpenAIRE wants dates: YYYY, YYYY-MM or YYYY-MM-DD
_W3CDTF = user_pattern(r"\d{4}(-\d{2}(-\d{2})?)?")
_URL = user_pattern(r"https?://\S+")


def access_right(item: dict[str, Any], today: date | None = None) -> str:
    """The item's access as a COAR access right: an embargo whose date has passed is open
    (the timer that says so may run late); an item without files is metadata only."""
    if not item.get("files"):
        return "metadata only"
    if item["access"] == "embargo":
        until = item.get("embargo_until")
        ended = until is not None and date.fromisoformat(until) <= (today or date.today())
        return "open" if ended else "embargoed"
    return "restricted" if item["access"] == "campus" else "open"


def identifier_type(identifier: str) -> str:
    """datacite:identifier's identifierType as OpenAIRE's schema spells it."""
    return "ARK" if identifier.lower().startswith("ark:") else "HANDLE"


def related(item: dict[str, Any]) -> list[dict[str, str]]:
    """The item's relations (new versions and the like) that the schema can carry."""
    return [
        relation
        for relation in item.get("relations") or []
        if relation.get("relation_type") in RELATION_TYPES
        and relation.get("identifier_type") in RELATED_IDENTIFIER_TYPES
        and relation.get("identifier")
    ]


def openaire(item: dict[str, Any]) -> str:
    """The item as an <oaire:resource>, in the order of the Guidelines' field list."""
    record = item["record"]

    def add(namespace: str, parent: etree._Element, name: str, value: str | None = None, **attrs):
        element = etree.SubElement(parent, f"{{{namespace}}}{name}", attrs)
        if value is not None:
            element.text = value
        return element

    def listed(container: str, element: str, values: list[str], **attrs: str) -> None:
        if values:
            parent = add(DATACITE, root, container)
            for value in values:
                add(DATACITE, parent, element, value, **attrs)

    root = etree.Element(
        f"{{{OAIRE}}}resource",
        nsmap={"oaire": OAIRE, "datacite": DATACITE, "dc": DC, "xsi": XSI},
    )
    root.set(f"{{{XSI}}}schemaLocation", f"{OAIRE} {METADATA_FORMATS['oai_openaire'][0]}")

    listed("titles", "title", record.get("title") or ["(:unav)"])
    people = item.get("creators") or [
        {"name": name, "orcid": None} for name in record.get("creator", [])
    ]
    if people:
        container = add(DATACITE, root, "creators")
        for person in people:
            creator = add(DATACITE, container, "creator")
            add(DATACITE, creator, "creatorName", person["name"])
            if person.get("orcid"):
                add(
                    DATACITE,
                    creator,
                    "nameIdentifier",
                    person["orcid"],
                    nameIdentifierScheme="ORCID",
                    schemeURI="https://orcid.org",
                )

    doi = item.get("doi")
    add(
        DATACITE,
        root,
        "identifier",
        doi or item["identifier"],
        identifierType="DOI" if doi else identifier_type(item["identifier"]),
    )
    alternates = [(item["landing_url"], "URL")]
    if doi:
        # the alternate's type is DataCite's word, which spells Handle so
        local = identifier_type(item["identifier"])
        alternates.insert(0, (item["identifier"], "Handle" if local == "HANDLE" else local))
    container = add(DATACITE, root, "alternateIdentifiers")
    for value, scheme in alternates:
        add(DATACITE, container, "alternateIdentifier", value, alternateIdentifierType=scheme)

    relations = related(item)
    if relations:
        container = add(DATACITE, root, "relatedIdentifiers")
        for relation in relations:
            add(
                DATACITE,
                container,
                "relatedIdentifier",
                relation["identifier"],
                relatedIdentifierType=relation["identifier_type"],
                relationType=relation["relation_type"],
            )

    issued = next(
        (value.strip() for value in record.get("date", []) if _W3CDTF.fullmatch(value.strip())),
        item["created_at"][:10],
    )
    dates = add(DATACITE, root, "dates")
    if item.get("embargo_until"):  # the embargo's start (the item's acceptance) and end
        add(DATACITE, dates, "date", item["created_at"][:10], dateType="Accepted")
        add(DATACITE, dates, "date", item["embargo_until"], dateType="Available")
    add(DATACITE, dates, "date", issued, dateType="Issued")

    for language in record.get("language", [])[:1]:
        add(DC, root, "language", language)
    add(DC, root, "publisher", (record.get("publisher") or [item["repository_name"]])[0])
    kind = resource_types.get(item.get("resource_type"))
    add(OAIRE, root, "resourceType", kind.label, resourceTypeGeneral=kind.openaire, uri=kind.uri)
    for description in record.get("description", []):
        add(DC, root, "description", description)
    for media_type in sorted({f["media_type"] for f in item.get("files", [])}):
        add(DC, root, "format", media_type)

    code, label = ACCESS_RIGHTS[access_right(item)]
    add(DATACITE, root, "rights", label, rightsURI=COAR_ACCESS + code)
    listed("subjects", "subject", record.get("subject", []))
    for licence in record.get("rights", []):
        attrs = {"uri": licence} if _URL.fullmatch(licence) else {}
        # a licence applies from the embargo's end, else from publication
        start = item.get("embargo_until") or issued
        add(OAIRE, root, "licenseCondition", licence, startDate=start, **attrs)
    object_type = OBJECT_TYPES[kind.openaire]
    for stored in item.get("files", []):
        add(
            OAIRE,
            root,
            "file",
            stored["url"],
            accessRightsURI=COAR_ACCESS + code,
            mimeType=stored["media_type"],
            objectType=object_type,
        )
    # lxml has no type information here; encoding="unicode" makes it a str
    return cast(str, etree.tostring(root, encoding="unicode"))
