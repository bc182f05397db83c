"""An item as DataCite metadata (kernel 4.5, the JSON:API attributes of DataCite's REST API),
free of nameko and of HTTP.

Built from the item's view (`ItemView`): its Dublin Core record, its creators with their
ORCID iDs, its resource type, dates, access rights, files and, when the item has them,
its relations to other versions (`relations`: [{relation_type, identifier,
identifier_type}]). A value DataCite's schema would refuse (a date or language that is no
ISO 8601 date or language tag) is left out rather than failing the registration.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from kernel.contracts import resource_types
from kernel.policy.text import user_pattern
from services.inventory.identifiers import scheme

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
ORCID = "https://orcid.org"
UNKNOWN = ":unav"  # DataCite's standard value for "unavailable"
_ISO_DATE = user_pattern(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_LANGUAGE = user_pattern(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_YEAR = user_pattern(r"(\d{4})")
# COAR access rights: what an item's access policy means to a harvester
ACCESS_RIGHTS = {
    "open": ("open access", "http://purl.org/coar/access_right/c_abf2"),
    "embargo": ("embargoed access", "http://purl.org/coar/access_right/c_f1cf"),
    "campus": ("restricted access", "http://purl.org/coar/access_right/c_16ec"),
}
RELATED_IDENTIFIER_TYPES = frozenset(
    ("ARK", "arXiv", "DOI", "Handle", "ISBN", "ISSN", "PMID", "PURL", "URL", "URN", "w3id")
)


def _iso(value: date | datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _first(record: dict[str, list[str]], element: str) -> str | None:
    values = record.get(element) or []
    return values[0] if values else None


def _unique(entries: list[Any]) -> list[Any]:
    """The schema wants each list's entries unique; the first of each is kept."""
    kept: list[Any] = []
    for entry in entries:
        if entry not in kept:
            kept.append(entry)
    return kept


def _creators(item: dict[str, Any]) -> list[dict[str, Any]]:
    people = item.get("creators") or [
        {"name": name, "orcid": None} for name in item["record"].get("creator", [])
    ]
    creators = []
    for person in people:
        creator: dict[str, Any] = {"name": person["name"]}
        if person.get("orcid"):
            creator["nameType"] = "Personal"
            creator["nameIdentifiers"] = [
                {
                    "nameIdentifier": f"{ORCID}/{person['orcid']}",
                    "nameIdentifierScheme": "ORCID",
                    "schemeUri": ORCID,
                }
            ]
        creators.append(creator)
    return _unique(creators) or [{"name": UNKNOWN}]


def publication_year(item: dict[str, Any]) -> str:
    for value in item["record"].get("date", []):
        match = _YEAR.match(value.lstrip())
        if match:
            return str(match.group(1))
    return _iso(item["created_at"])[:4]


def _dates(item: dict[str, Any]) -> list[dict[str, str]]:
    issued = _first(item["record"], "date")
    dates = [{"date": issued.strip(), "dateType": "Issued"}] if issued else []
    available = item.get("embargo_until") or item["created_at"]
    dates.append({"date": _iso(available)[:10], "dateType": "Available"})
    if item.get("withdrawn_at"):
        dates.append({"date": _iso(item["withdrawn_at"])[:10], "dateType": "Withdrawn"})
    return [entry for entry in dates if _ISO_DATE.match(entry["date"])]


def _rights(item: dict[str, Any]) -> list[dict[str, str]]:
    rights = []
    if item["access"] in ACCESS_RIGHTS:
        label, uri = ACCESS_RIGHTS[item["access"]]
        rights.append({"rights": label, "rightsUri": uri})
    for value in item["record"].get("rights", []):
        if value.startswith(("http://", "https://")):  # a licence's URL
            rights.append({"rights": value, "rightsUri": value})
        else:
            rights.append({"rights": value})
    return _unique(rights)


def _related(item: dict[str, Any]) -> list[dict[str, str]]:
    return _unique(
        [
            {
                "relatedIdentifier": relation["identifier"],
                "relatedIdentifierType": relation["identifier_type"],
                "relationType": relation["relation_type"],
            }
            for relation in item.get("relations") or []
            if relation.get("identifier_type") in RELATED_IDENTIFIER_TYPES
        ]
    )


def _files(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for r in item.get("representations", []) for f in r["files"]]


def attributes(item: dict[str, Any], url: str, publisher: str) -> dict[str, Any]:
    """The DataCite attributes of `item`, whose DOI resolves to `url` (its landing page).
    `publisher`: the repository's name, unless the record names a publisher."""
    record = item["record"]
    kind = resource_types.get(item.get("resource_type"))
    identifier = item["identifier"]
    language = _first(record, "language")
    files = _files(item)
    data: dict[str, Any] = {
        **({"doi": item["doi"]} if item.get("doi") else {}),
        "url": url,
        "types": {"resourceTypeGeneral": kind.datacite, "resourceType": kind.heading},
        "creators": _creators(item),
        "titles": _unique([{"title": title} for title in record.get("title", [])])
        or [{"title": UNKNOWN}],
        "publisher": {"name": _first(record, "publisher") or publisher},
        "publicationYear": publication_year(item),
        "subjects": _unique([{"subject": subject} for subject in record.get("subject", [])]),
        "dates": _dates(item),
        "alternateIdentifiers": [
            {
                "alternateIdentifier": identifier,
                "alternateIdentifierType": scheme(identifier),
            }
        ],
        "relatedIdentifiers": _related(item),
        "sizes": _unique([f"{f['size']} bytes" for f in files]),
        "formats": _unique([f["media_type"] for f in files]),
        "rightsList": _rights(item),
        "descriptions": _unique(
            [
                {"description": text, "descriptionType": "Abstract"}
                for text in record.get("description", [])
            ]
        ),
        "schemaVersion": SCHEMA_VERSION,
    }
    if language and _LANGUAGE.match(language):
        data["language"] = language
    return data
