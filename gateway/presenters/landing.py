"""What an item's landing page says, for people and for machines: creators with ORCID
iDs, Google Scholar's `citation_*` meta tags and Schema.org JSON-LD. (The citation comes
from `citations`, made from the item's CSL-JSON.)

Creators arrive as Dublin Core strings. Lodge writes a person with an ORCID iD as
`Name (ORCID 0000-0002-1825-0097)`; `Name (0000-…)` and `Name (https://orcid.org/0000-…)`
are understood as well. Names are `Given Family` or `Family, Given`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from kernel.contracts import resource_types
from kernel.policy.text import PARTIAL_DATE, split_orcid


@dataclass(frozen=True)
class Creator:
    name: str
    orcid: str | None

    @property
    def orcid_url(self) -> str | None:
        return f"https://orcid.org/{self.orcid}" if self.orcid else None

    @property
    def family_given(self) -> tuple[str, str]:
        if "," in self.name:
            family, _, given = self.name.partition(",")
            return family.strip(), given.strip()
        parts = self.name.split()
        return (parts[-1], " ".join(parts[:-1])) if parts else ("", "")

    @property
    def inverted(self) -> str:
        """`Family, Given`, as citation_author wants it."""
        family, given = self.family_given
        return f"{family}, {given}" if given else family


def creators(item: dict) -> list[Creator]:
    """The item's people: as inventory keeps them (with ORCID iDs) or, for items made
    before it did, parsed from dc:creator values such as `Name (0000-0002-1825-0097)`."""
    if item.get("creators"):
        return [
            Creator(person["name"], (person.get("orcid") or "").upper() or None)
            for person in item["creators"]
        ]
    return [
        Creator(name.strip(), orcid)
        for name, orcid in map(split_orcid, item["record"].get("creator", []))
    ]


def first(record: dict, element: str, default: str = "") -> str:
    values = record.get(element) or []
    return values[0] if values else default


def publication_date(record: dict) -> str:
    """Google Scholar's YYYY/MM/DD (or YYYY/MM, or YYYY)."""
    match = PARTIAL_DATE.match(first(record, "date"))
    return "/".join(part for part in match.groups() if part) if match else ""


def kinds(item: dict) -> list[str]:
    """What the item is, for people: its resource type, then what the profile's fields
    said (a degree, say)."""
    kind = resource_types.get(item.get("resource_type"))
    return [kind.heading] + [
        value for value in item["record"].get("type", []) if value.casefold() != kind.label
    ]


# DataCite relation types → the Schema.org property that says the same of a CreativeWork
SCHEMA_ORG_RELATIONS = {
    "IsPartOf": "isPartOf",
    "HasPart": "hasPart",
    "IsIdenticalTo": "sameAs",
    "Cites": "citation",
    "References": "citation",
    "IsVersionOf": "exampleOfWork",
    "HasVersion": "workExample",
    "IsNewVersionOf": "isBasedOn",
    "IsDerivedFrom": "isBasedOn",
}
RESOLVERS = {
    "DOI": "https://doi.org/",
    "Handle": "https://hdl.handle.net/",
    "ARK": "https://n2t.net/",
}


def doi_url(doi: str) -> str:
    return "https://doi.org/" + quote(doi, safe="/:;()._-")


def cite_as(item: dict, local_url: str) -> str:
    """What to cite the item by: its DOI where it has one, else Lodge's persistent link."""
    return doi_url(item["doi"]) if item.get("doi") else local_url


def relation_target(relation: dict) -> str:
    """A related identifier as a URL where a resolver for its kind is known."""
    identifier = relation["identifier"]
    if relation.get("identifier_type") == "URL":
        return identifier
    resolver = RESOLVERS.get(relation.get("identifier_type") or "")
    return resolver + identifier if resolver else identifier


def _relations(item: dict) -> dict[str, list[str]]:
    related: dict[str, list[str]] = {}
    for relation in item.get("relations") or []:
        name = SCHEMA_ORG_RELATIONS.get(relation.get("relation_type") or "")
        if name and relation.get("identifier"):
            related.setdefault(name, []).append(relation_target(relation))
    return related


def _files(item: dict) -> list[dict]:
    return [f for representation in item["representations"] for f in representation["files"]]


def meta_tags(item: dict, publisher: str, file_url, visible: bool) -> list[tuple[str, str | None]]:
    """(name, content) pairs for Google Scholar (Highwire Press tags)."""
    record = item["record"]
    tags: list[tuple[str, str | None]] = [("citation_title", first(record, "title"))]
    tags += [("citation_author", creator.inverted) for creator in creators(item)]
    tags += [
        ("citation_author_orcid", creator.orcid_url) for creator in creators(item) if creator.orcid
    ]
    if publication_date(record):
        tags.append(("citation_publication_date", publication_date(record)))
    tags.append(("citation_publisher", publisher))
    if first(record, "language"):
        tags.append(("citation_language", first(record, "language")))
    tags += [("citation_keywords", keyword) for keyword in record.get("subject", [])]
    if first(record, "description"):
        tags.append(("citation_abstract", first(record, "description")))
    if visible:
        tags += [
            ("citation_pdf_url", file_url(f))
            for f in _files(item)
            if f["media_type"] == "application/pdf"
        ][:1]
    if item.get("doi"):
        tags.append(("citation_doi", item["doi"]))
    return [(name, content) for name, content in tags if content]


def json_ld(item: dict, publisher: str, url: str, file_url, visible: bool) -> dict:
    """Schema.org, as Google Dataset Search and other crawlers read it."""
    record = item["record"]
    kind = resource_types.get(item.get("resource_type"))
    data = {
        "@context": "https://schema.org",
        "@type": kind.schema_org,
        "additionalType": kind.uri,
        "@id": cite_as(item, url),
        "url": url,
        "name": first(record, "title"),
        "identifier": [item["identifier"]] + ([doi_url(item["doi"])] if item.get("doi") else []),
        "author": [
            {
                "@type": "Person",
                "name": creator.name,
                **(
                    {"@id": creator.orcid_url, "sameAs": creator.orcid_url} if creator.orcid else {}
                ),
            }
            for creator in creators(item)
        ],
        "publisher": {"@type": "Organization", "name": publisher},
        "isAccessibleForFree": item["access"] == "open" and not item.get("withdrawn_at"),
    }
    optional = {
        "description": first(record, "description"),
        "datePublished": first(record, "date"),
        "inLanguage": first(record, "language"),
        "keywords": ", ".join(record.get("subject", [])),
        "license": first(record, "rights"),
        "version": str(item.get("version") or ""),
    }
    data.update({key: value for key, value in optional.items() if value})
    data.update(_relations(item))
    if item["access"] == "embargo" and item.get("embargo_until"):
        data["conditionsOfAccess"] = f"Embargoed until {item['embargo_until']}"
    elif item["access"] == "campus":
        data["conditionsOfAccess"] = "Campus only"
    if visible:
        data["encoding" if data["@type"] != "Dataset" else "distribution"] = [
            {
                "@type": "MediaObject" if data["@type"] != "Dataset" else "DataDownload",
                "name": f["filename"],
                "contentUrl": file_url(f),
                "encodingFormat": f["media_type"],
                "contentSize": f"{f['size']} B",
            }
            for f in _files(item)
        ]
    return data
