"""The metadata form a profile describes: widgets to render, and form data parsed back.

Framework-free, so it is unit-tested on its own. Input names are `m-<key>` (repeated for
repeatable fields); a person is `m-<key>-name` with `m-<key>-orcid`.
"""

from __future__ import annotations

from typing import Any

LANGUAGE_CHOICES = (
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
    ("pt", "Português"),
    ("sv", "Svenska"),
    ("da", "Dansk"),
    ("nb", "Norsk bokmål"),
    ("fi", "Suomi"),
    ("pl", "Polski"),
    ("cs", "Čeština"),
    ("el", "Ελληνικά"),
    ("tr", "Türkçe"),
    ("ru", "Русский"),
    ("uk", "Українська"),
    ("ar", "العربية"),
    ("he", "עברית"),
    ("hi", "हिन्दी"),
    ("zh", "中文"),
    ("ja", "日本語"),
    ("ko", "한국어"),
    ("la", "Latina"),
)
INPUTS = {
    "text": "text",
    "long_text": "textarea",
    "date": "date",
    "url": "url",
    "language": "select",
    "choice": "select",
    "licence": "select",
    "person": "person",
    "keywords": "keywords",
}


def _as_list(value) -> list:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _options(field: dict) -> list[tuple[str, str]]:
    if field["type"] == "language":
        return list(LANGUAGE_CHOICES)
    return [(term, term) for term in field["vocabulary"]]


def widgets(form: list[dict], metadata: dict, errors: dict | None = None) -> list[dict]:
    """One widget per field, in the profile's order, holding the current values
    (plus one empty row for repeatable fields) and the field's error messages."""
    errors = errors or {}
    result = []
    for field in form:
        kind = INPUTS[field["type"]]
        if field["type"] == "licence" and not field["vocabulary"]:
            kind = "url"
        value = metadata.get(field["key"])
        if kind == "keywords":
            values: list[Any] = [", ".join(_as_list(value))]
        elif field["repeatable"]:
            values = _as_list(value) + [{} if kind == "person" else ""]
        else:
            values = [value if value is not None else ({} if kind == "person" else "")]
        result.append(
            {
                "key": field["key"],
                "name": f"m-{field['key']}",
                "label": field["label"],
                "help": field.get("help", ""),
                "input": kind,
                "required": field["required"],
                "repeatable": field["repeatable"] and kind != "keywords",
                "max_values": field.get("max_values"),
                "options": _options(field),
                "values": values,
                "errors": errors.get(field["key"], []),
            }
        )
    return result


def parse(form: list[dict], data) -> dict[str, Any]:
    """Metadata from submitted form data (a werkzeug MultiDict or anything with getlist).
    Empty inputs are left out, so a draft may stay incomplete."""
    metadata: dict[str, Any] = {}
    for field in form:
        name = f"m-{field['key']}"
        kind = INPUTS[field["type"]]
        if kind == "person":
            people = []
            # a posted form may hold more names than ORCID iDs or fewer: pairs only
            names, orcids = data.getlist(f"{name}-name"), data.getlist(f"{name}-orcid")
            for person_name, orcid in zip(names, orcids, strict=False):
                person_name, orcid = person_name.strip(), orcid.strip()
                if person_name or orcid:
                    people.append({"name": person_name, **({"orcid": orcid} if orcid else {})})
            values: list = people
        elif kind == "keywords":
            values = [
                word.strip()
                for text in data.getlist(name)
                for word in text.split(",")
                if word.strip()
            ]
            if values:
                metadata[field["key"]] = values
            continue
        else:
            values = [value.strip() for value in data.getlist(name) if value.strip()]
        if not values:
            continue
        metadata[field["key"]] = values if field["repeatable"] else values[0]
    return metadata
