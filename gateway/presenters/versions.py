"""The versions of an item's work as its landing page shows them, and the correction form's
values: shaping only, no service calls."""

from __future__ import annotations

from typing import Any

from kernel.contracts.profiles import DC_ELEMENTS

# what the correction form offers: every Dublin Core element but creator, which comes from
# the creators (people with their ORCID iDs); long text gets a text area
CORRECTED_ELEMENTS = tuple(element for element in DC_ELEMENTS if element != "creator")
LONG_ELEMENTS = ("description",)


def work(item: dict[str, Any]) -> dict[str, Any]:
    """The version list (oldest first), each marked as this one, the latest or withdrawn,
    and the latest version not withdrawn, which an older version's notice links."""
    live = [v for v in item.get("versions", []) if not v.get("withdrawn_at")]
    latest = live[-1] if live else None
    versions = [
        {
            **version,
            "current": version["item_id"] == item["id"],
            "latest": latest is not None and version["item_id"] == latest["item_id"],
        }
        for version in item.get("versions", [])
    ]
    return {
        "versions": versions,
        "latest": latest,
        "superseded": latest is not None and latest["item_id"] != item["id"],
    }


def correction_form(item: dict[str, Any]) -> dict[str, Any]:
    """The form's starting values: each element's values plus one empty box to add one,
    and the creators plus one empty row."""
    record = item["record"]
    people = item.get("creators") or [
        {"name": name, "orcid": None} for name in record.get("creator", [])
    ]
    return {
        "elements": [
            {
                "name": element,
                "values": [*record.get(element, []), ""],
                "long": element in LONG_ELEMENTS,
            }
            for element in CORRECTED_ELEMENTS
        ],
        "creators": [*people, {"name": "", "orcid": None}],
    }


def correction_request(form: Any) -> dict[str, Any]:
    """The correction form's fields as the correction's record and creators; empty boxes
    are left out."""
    record = {
        element: [value for value in form.getlist(element) if value.strip()]
        for element in CORRECTED_ELEMENTS
    }
    names, orcids = form.getlist("creator_name"), form.getlist("creator_orcid")
    creators = []
    for index, name in enumerate(names):
        orcid = orcids[index].strip() if index < len(orcids) else ""
        if name.strip():
            creators.append({"name": name, "orcid": orcid or None})
    return {"record": {k: v for k, v in record.items() if v}, "creators": creators}


def _messages(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [message for nested in errors.values() for message in _messages(nested)]
    if isinstance(errors, list):
        return [message for nested in errors for message in _messages(nested)]
    return [str(errors)]


def field_messages(fields: dict[str, Any]) -> dict[str, list[str]]:
    """A refused correction's field errors by the form's boxes: each element's, the
    creators' and the reason's messages."""
    found = {name: _messages(nested) for name, nested in fields.items() if name != "record"}
    record = fields.get("record")
    if isinstance(record, dict):
        found.update({element: _messages(nested) for element, nested in record.items()})
    elif record:
        found["record"] = _messages(record)
    return found
