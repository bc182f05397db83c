"""An item's record as reference managers read it: CSL-JSON (also what the citations are
made from), BibTeX and RIS. Schema.org JSON-LD is `landing.json_ld`, and the DataCite
formats come from inventory.

Each is built from the item as inventory returns it (ItemView). Text from people is made one
line and stripped of control characters first, so a newline can neither start a RIS tag
nor end a BibTeX field; BibTeX's special characters are escaped so that braces stay
balanced. A DOI, a `version` and `relations` ({relation_type, identifier,
identifier_type}) are used where the item has them.
"""

from __future__ import annotations

from typing import Any

from gateway.presenters.landing import creators, first, kinds
from kernel.contracts import resource_types
from kernel.policy.text import PARTIAL_DATE, one_line, user_pattern

# COAR resource type → CSL 1.0.2 item type
CSL_TYPES = {
    "journal-article": "article-journal",
    "preprint": "article",
    "conference-paper": "paper-conference",
    "book": "book",
    "book-part": "chapter",
    "report": "report",
    "thesis": "thesis",
    "bachelor-thesis": "thesis",
    "master-thesis": "thesis",
    "doctoral-thesis": "thesis",
    "dataset": "dataset",
    "software": "software",
    "image": "graphic",
    "video": "motion_picture",
    "sound": "song",
    "text": "document",
}
# COAR resource type → BibTeX entry type (the classic ones, which every tool reads)
BIBTEX_TYPES = {
    "journal-article": "article",
    "conference-paper": "inproceedings",
    "book": "book",
    "book-part": "incollection",
    "report": "techreport",
    "bachelor-thesis": "mastersthesis",
    "master-thesis": "mastersthesis",
    "doctoral-thesis": "phdthesis",
}
# COAR resource type → RIS reference type
RIS_TYPES = {
    "journal-article": "JOUR",
    "preprint": "UNPB",
    "conference-paper": "CPAPER",
    "book": "BOOK",
    "book-part": "CHAP",
    "report": "RPRT",
    "thesis": "THES",
    "bachelor-thesis": "THES",
    "master-thesis": "THES",
    "doctoral-thesis": "THES",
    "dataset": "DATA",
    "software": "COMP",
    "image": "FIGURE",
    "video": "VIDEO",
    "sound": "SOUND",
    "text": "GEN",
}
_KEY_UNSAFE = user_pattern(r"[^A-Za-z0-9_-]")
_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    # \{ would count as a brace in BibTeX's balance and end the field early
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_BIBTEX_ESCAPES = str.maketrans(_BIBTEX_SPECIAL)


def publisher(item: dict, repository_name: str) -> str:
    """dc:publisher, else the repository, as the DataCite crosswalk has it."""
    return one_line(first(item["record"], "publisher")) or repository_name


def date_parts(item: dict) -> list[int]:
    """[year, month, day] as far as dc:date gives them; [] without a year."""
    match = PARTIAL_DATE.match(first(item["record"], "date").strip())
    if not match:
        return []
    parts = [int(part) for part in match.groups() if part]
    # a month or day out of range ends the date there: citeproc would refuse it
    if len(parts) > 1 and not 1 <= parts[1] <= 12:
        return parts[:1]
    if len(parts) > 2 and not 1 <= parts[2] <= 31:
        return parts[:2]
    return parts


def _line(record: dict, element: str) -> str:
    return one_line(first(record, element))


def _genre(item: dict) -> str:
    """What the profile's fields said the item is (a degree), beyond its resource type."""
    return one_line(next(iter(kinds(item)[1:]), ""))


def _names(item: dict) -> list[tuple[str, str]]:
    """(family, given) per creator, one line each; given is "" for an organisation."""
    people = []
    for creator in creators(item):
        family, given = creator.family_given
        people.append((one_line(family), one_line(given)))
    return [(family, given) for family, given in people if family or given]


def csl_json(item: dict, publisher_name: str, url: str) -> dict[str, Any]:
    """One CSL-JSON item (the input of citeproc and of reference managers)."""
    record = item["record"]
    data: dict[str, Any] = {
        "id": item["identifier"],
        "type": CSL_TYPES[resource_types.get(item.get("resource_type")).key],
        "title": _line(record, "title"),
        "author": [
            {"family": family, "given": given} if given else {"literal": family}
            for family, given in _names(item)
        ],
        "publisher": publisher_name,
        "URL": url,
    }
    parts = date_parts(item)
    optional = {
        "issued": {"date-parts": [parts]} if parts else None,
        "DOI": item.get("doi"),
        "abstract": _line(record, "description"),
        "keyword": ", ".join(one_line(value) for value in record.get("subject", [])),
        "language": _line(record, "language"),
        "genre": _genre(item),
        "version": one_line(str(item.get("version") or "")),
    }
    data.update({key: value for key, value in optional.items() if value})
    return data


def _bibtex_value(value: str) -> str:
    return one_line(value).translate(_BIBTEX_ESCAPES)


def _bibtex_name(family: str, given: str) -> str:
    """`Family, Given`; braced where BibTeX would split it (an `and`, a comma) or where it
    is an organisation, whose name must not be split into parts."""

    def part(value: str) -> str:
        escaped = _bibtex_value(value)
        splits = " and " in f" {value.casefold()} " or "," in value
        return "{" + escaped + "}" if splits else escaped

    if not given:
        return "{" + _bibtex_value(family) + "}"
    return f"{part(family)}, {part(given)}"


def bibtex(item: dict, publisher_name: str, url: str) -> str:
    """One BibTeX entry, keyed by the item's id."""
    record = item["record"]
    key = resource_types.get(item.get("resource_type")).key
    entry_type = BIBTEX_TYPES.get(key, "misc")
    parts = date_parts(item)
    where = {"techreport": "institution", "mastersthesis": "school", "phdthesis": "school"}
    fields = [
        ("author", " and ".join(_bibtex_name(family, given) for family, given in _names(item))),
        ("title", _bibtex_value(first(record, "title"))),
        ("year", str(parts[0]) if parts else ""),
        ("month", str(parts[1]) if len(parts) > 1 else ""),
        (where.get(entry_type, "publisher"), _bibtex_value(publisher_name)),
        ("type", _bibtex_value(_genre(item))),
        ("doi", _bibtex_value(item.get("doi") or "")),
        ("url", _bibtex_value(url)),
        ("version", _bibtex_value(str(item.get("version") or ""))),
        ("language", _bibtex_value(first(record, "language"))),
        ("keywords", ", ".join(_bibtex_value(value) for value in record.get("subject", []))),
        ("abstract", _bibtex_value(first(record, "description"))),
    ]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    citation_key = "lodge-" + _KEY_UNSAFE.sub("", item["id"])
    return f"@{entry_type}{{{citation_key},\n{body}\n}}\n"


def ris(item: dict, publisher_name: str, url: str) -> str:
    """One RIS record: tagged lines, CRLF as the format has them, `ER` last."""
    record = item["record"]
    parts = date_parts(item)
    lines = [("TY", RIS_TYPES[resource_types.get(item.get("resource_type")).key])]
    lines += [("AU", f"{family}, {given}" if given else family) for family, given in _names(item)]
    lines += [
        ("TI", _line(record, "title")),
        ("PY", str(parts[0]) if parts else ""),
        ("DA", "/".join(f"{part:02d}" for part in parts) + "/" if parts else ""),
        ("PB", one_line(publisher_name)),
        ("M3", _genre(item)),
        ("ET", one_line(str(item.get("version") or ""))),
        ("DO", one_line(item.get("doi") or "")),
        ("UR", one_line(url)),
        ("LA", _line(record, "language")),
        ("AB", _line(record, "description")),
    ]
    lines += [("KW", one_line(value)) for value in record.get("subject", [])]
    lines.append(("ER", ""))
    return "".join(f"{tag}  - {value}\r\n" for tag, value in lines if value or tag == "ER")
