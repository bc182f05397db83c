"""Text that people write: its kinds with their length limits, and the characters Lodge
refuses. No framework: metadata validation, the contracts, the web front, the crosswalks
and the letters all ask here, so one rule holds everywhere.

Text is kept in Unicode NFC. Refused: characters XML 1.0 cannot carry (C0 controls other
than tab, newline and carriage return; U+FFFE, U+FFFF), lone surrogates (no encoding can
store them) and the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069),
which make text display other than it reads.

Every regular expression applied to user text is compiled by `user_pattern`, which keeps a
registry that a test runs against adversarial input: none may be super-linear.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

# the longest text of each kind, in characters; the columns that keep them are at least this long
LIMITS = {
    "name": 300,  # a person's name, a display name
    "title": 500,  # a title (the field mapped to dc:title)
    "text": 2000,  # a short text field of a profile
    "abstract": 50000,  # a long text field of a profile
    "keyword": 200,
    "note": 10000,  # a note to a depositor or among staff
    "reason": 2000,  # why an item was withdrawn
    "label": 300,  # a reason's label in the approvers' table
    "filename": 255,
}
# a profile field's type → the kind of each of its values (a person's is the name)
FIELD_KINDS = {"text": "text", "long_text": "abstract", "keywords": "keyword", "person": "name"}

USER_PATTERNS: dict[str | bytes, re.Pattern[Any]] = {}
PATTERN_MAX_LENGTHS: dict[str | bytes, int] = {}


def user_pattern(
    pattern: str | bytes, flags: int = 0, *, max_length: int | None = None
) -> re.Pattern[Any]:
    """Compile a pattern that is applied to user text, and register it for the linear-time test.

    `max_length` is for a pattern its callers apply only to that many characters of the text
    (a long alternation such as the robots list): the test holds it to its budget there."""
    compiled = re.compile(pattern, flags)
    USER_PATTERNS[pattern] = compiled
    if max_length is not None:
        PATTERN_MAX_LENGTHS[pattern] = max_length
    return compiled


_REFUSED = user_pattern(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)
# in JSON: a refused control character's escape, or a backslash's before such a letter
_ESCAPED_CONTROL = user_pattern(r"\\(?:u00|b|f)")
ORCID_ID = r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]"  # an ORCID iD's digits, for patterns to embed
_ORCID_ID = user_pattern(ORCID_ID, re.IGNORECASE)
# a date written YYYY, YYYY-MM or YYYY-MM-DD; groups: year, month, day
PARTIAL_DATE = user_pattern(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _describe(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return f"a bidirectional override (U+{code:04X})"
    return f"a character XML cannot carry (U+{code:04X})"


def problem(value: str) -> str | None:
    """Why `value` is refused, or None: the first refused character, named."""
    found = _REFUSED.search(value)
    return f"contains {_describe(found.group())}" if found else None


def limit_for(field: dict[str, Any]) -> int:
    """The length limit of each value of a profile's form field."""
    if field.get("dc") == "title":  # lists and letters show it; its column holds this much
        return LIMITS["title"]
    return LIMITS[FIELD_KINDS.get(field["type"], "text")]


def check(value: str, limit: int) -> str | None:
    """What is wrong with `value` as text of at most `limit` characters, or None."""
    found = problem(value)
    if found:
        return found
    if len(normalise(value)) > limit:
        return f"must be at most {limit} characters"
    return None


def normalise(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def map_strings(function: Callable[[str], str], value: Any) -> Any:
    """`function` applied to every string in a JSON value, keys too."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, dict):
        return {
            map_strings(function, key): map_strings(function, item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [map_strings(function, item) for item in value]
    return value


def normalise_tree(value: Any) -> Any:
    """Every string in a JSON value in NFC; refused characters are checked first."""
    return map_strings(normalise, value)


def refused_paths(value: Any, path: str = "") -> dict[str, str]:
    """The JSON paths of strings (keys too) holding a refused character, with the reason.
    Iterative, so that no nesting depth reaches the recursion limit."""
    found: dict[str, str] = {}
    stack = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, str):
            reason = problem(current)
            if reason:
                found[where or "body"] = reason
        elif isinstance(current, dict):
            for key, item in current.items():
                child = f"{where}.{key}" if where else str(key)
                reason = problem(str(key))
                if reason:
                    found[child] = f"its name {reason}"
                else:
                    stack.append((item, child))
        elif isinstance(current, list):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(current))
    return found


def clean(value: str) -> str:
    """`value` without refused characters, in NFC: for text stored before the rule held."""
    return normalise(_REFUSED.sub("", value))


def clean_tree(value: Any) -> Any:
    """`clean` applied to every string in a JSON value, keys too. A value that is clean
    already (nearly all: the migrations cleaned what was stored before the rule) comes back
    as it is, found so by one look at it as JSON instead of a visit to every string."""
    return value if _clean_already(value) else map_strings(clean, value)


def _clean_already(value: Any) -> bool:
    """Whether no string in `value` holds a refused character or is other than NFC, judged
    on its JSON, which shows every character but escapes the control characters: an escape
    that may be of a refused one (a backslash, then u00, b or f) sends it the long way."""
    try:
        dumped = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON: let map_strings see
        return False
    return (
        _REFUSED.search(dumped) is None
        and _ESCAPED_CONTROL.search(dumped) is None
        and unicodedata.is_normalized("NFC", dumped)
    )


def one_line(value: str) -> str:
    """`value` cleaned, its line breaks and runs of white space made one space: for a header."""
    return " ".join(clean(value).split())


def shorten(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, an ellipsis showing the cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def split_orcid(value: str) -> tuple[str, str | None]:
    """`Name (ORCID 0000-0002-1825-0097)` → ("Name", "0000-0002-1825-0097"); any other value
    → (value, None). String operations, so a long run of spaces costs linear time."""
    stripped = value.rstrip()
    if stripped.endswith(")"):
        start = stripped.rfind("(")
        inner = stripped[start + 1 : -1]
        found = _ORCID_ID.search(inner) if start >= 0 and ")" not in inner else None
        if found:
            return stripped[:start].rstrip(), found.group().upper()
    return value, None
