"""Metadata checked against a profile's form: per-field errors, nothing saved partially."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlparse

from kernel.contracts.exceptions import InvalidInput
from kernel.policy import text
from kernel.policy.text import ORCID_ID, PARTIAL_DATE, user_pattern

_LANGUAGE = user_pattern(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_ORCID = user_pattern(rf"^(?:https://orcid\.org/)?({ORCID_ID})$")


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 MOD 11-2, as ORCID specifies."""
    digits = orcid.replace("-", "")
    total = 0
    for char in digits[:-1]:
        total = (total + int(char)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def _check_text(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be non-empty text"
    return text.check(value, text.limit_for(field))


def _check_date(value: Any, field: dict[str, Any]) -> str | None:
    match = PARTIAL_DATE.fullmatch(value) if isinstance(value, str) else None
    if not match:
        return "must be a date written YYYY, YYYY-MM or YYYY-MM-DD"
    year, month, day = match.groups()
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return "is not a real date"
    return None


def _check_url(value: Any, field: dict[str, Any]) -> str | None:
    try:
        parsed = urlparse(value) if isinstance(value, str) else None
    except ValueError:  # such as an unclosed IPv6 bracket
        parsed = None
    if not parsed or parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "must be an http or https URL"
    return None


def _check_language(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        return "must be a language code such as 'en' or 'de'"
    return None


def _check_choice(value: Any, field: dict[str, Any]) -> str | None:
    if value not in field["vocabulary"]:
        return f"must be one of: {', '.join(field['vocabulary'])}"
    return None


def _check_licence(value: Any, field: dict[str, Any]) -> str | None:
    if field["vocabulary"]:
        return _check_choice(value, field)
    return _check_url(value, field)


def _check_person(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, dict) or set(value) - {"name", "orcid"}:
        return "must be a person: {name, orcid?}"
    if not isinstance(value.get("name"), str) or not value["name"].strip():
        return "needs a name"
    problem = text.check(value["name"], text.LIMITS["name"])
    if problem:
        return f"has a name that {problem}"
    orcid = value.get("orcid")
    if orcid:
        match = _ORCID.fullmatch(orcid) if isinstance(orcid, str) else None
        if not match:
            return "has an ORCID iD that is not written 0000-0000-0000-0000"
        if not orcid_checksum_ok(match.group(1)):
            return "has an ORCID iD whose check digit is wrong"
    return None


def _check_keywords(value: Any, field: dict[str, Any]) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a list of keywords"
    if any(not isinstance(word, str) or not word.strip() for word in value):
        return "must contain only non-empty keywords"
    for word in value:
        problem = text.check(word, text.LIMITS["keyword"])
        if problem:
            return f"has a keyword that {problem}"
    return None


CHECKS: dict[str, Callable[[Any, dict[str, Any]], str | None]] = {
    "text": _check_text,
    "long_text": _check_text,
    "date": _check_date,
    "url": _check_url,
    "language": _check_language,
    "choice": _check_choice,
    "licence": _check_licence,
    "person": _check_person,
    "keywords": _check_keywords,
}


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def validate_metadata(
    form: list[dict[str, Any]], metadata: dict[str, Any], complete: bool
) -> dict[str, list[str]]:
    """Per-field errors for `metadata` against a profile's `form`.

    A draft (`complete=False`) may leave required fields empty; submission may not.
    """
    errors: dict[str, list[str]] = {}
    by_key = {field["key"]: field for field in form}
    for key in metadata:
        if key not in by_key:
            errors[key] = ["is not a field of this profile"]
    for key, field in by_key.items():
        value = metadata.get(key)
        if _is_empty(value):
            if complete and field["required"]:
                errors[key] = ["is required"]
            continue
        if field["repeatable"]:
            if not isinstance(value, list):
                errors[key] = ["must be a list"]
                continue
            values = value
            limit = field.get("max_values")
            if limit and len(values) > limit:
                errors[key] = [f"allows at most {limit} values"]
                continue
        else:
            values = [value]
        messages = []
        for index, item in enumerate(values):
            # every value is text of some kind: refused characters and length come first
            message = (
                text.check(item, text.limit_for(field)) if isinstance(item, str) else None
            ) or CHECKS[field["type"]](item, field)
            if message:
                messages.append(f"value {index + 1} {message}" if field["repeatable"] else message)
        if messages:
            errors[key] = messages
    return errors


def checked_metadata(
    form: list[dict[str, Any]], metadata: dict[str, Any], complete: bool
) -> dict[str, Any]:
    """`metadata` in NFC if it is valid for the form; InvalidInput naming each bad field."""
    errors = validate_metadata(form, metadata, complete)
    if errors:
        raise InvalidInput(
            "The metadata is not valid for this profile.", fields={"metadata": errors}
        )
    normalised: dict[str, Any] = text.normalise_tree(metadata)
    return normalised


def title_of(form: list[dict[str, Any]], metadata: dict[str, Any]) -> str:
    """The value of the field mapped to dc:title, as lists and letters show it."""
    for field in form:
        if field.get("dc") == "title":
            value = metadata.get(field["key"])
            if isinstance(value, list):
                value = value[0] if value else ""
            return str(value or "")
    return ""
