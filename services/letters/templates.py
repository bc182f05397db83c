"""Letter templates: shipped defaults, saved versions, and sandboxed rendering. No framework.

A template has three parts: a one-line subject, an HTML part (autoescaped) and a plain-text
part. The newest saved version of a letter type and locale is used; without one (or after a
reset) the default shipped in `templates/` is. A locale with neither falls back to the
default locale.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.letters import LETTER_TYPES
from kernel.contracts.people import DEFAULT_LOCALE, LOCALES
from services.letters.models import LetterTemplate

DEFAULTS = Path(__file__).parent / "templates"

_environments = {
    autoescape: SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True
    )
    for autoescape in (False, True)
}


class RenderError(Exception):
    """A template part that does not compile or render, with the line where it broke."""

    def __init__(self, part: str, line: int | None, message: str):
        self.part, self.line, self.message = part, line, message
        where = f"line {line}: " if line else ""
        super().__init__(f"{part}: {where}{message}")


def refusal(err: RenderError) -> InvalidInput:
    """A template that does not render, as a 422 naming the part and the line."""
    return InvalidInput(
        "The template does not render.", fields={err.part: [str(err).removeprefix(f"{err.part}: ")]}
    )


@dataclass(frozen=True)
class Parts:
    subject: str
    html: str
    text: str


@functools.lru_cache(maxsize=512)
def _compiled(part: str, source: str) -> Template:
    try:
        return _environments[part == "html"].from_string(source)
    except TemplateSyntaxError as err:
        raise RenderError(part, err.lineno, err.message or str(err)) from None


def _render_part(part: str, source: str, context: dict[str, Any]) -> str:
    template = _compiled(part, source)
    try:
        return template.render(**context)
    except TemplateError as err:
        raise RenderError(part, _template_line(err), str(err)) from None
    except (TypeError, ValueError, AttributeError, ArithmeticError, LookupError) as err:
        raise RenderError(part, _template_line(err), f"{type(err).__name__}: {err}") from None


def _template_line(err: Exception) -> int | None:
    """Jinja rewrites tracebacks so that template frames carry the template's line."""
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(err.__traceback__)
        if frame.filename == "<template>"
    ]
    return lines[-1] if lines else None


def render(parts: Parts, context: dict[str, Any]) -> Parts:
    """Subject (one line), HTML and text, or RenderError naming the part and line."""
    subject = " ".join(_render_part("subject", parts.subject, context).split())
    if not subject:
        raise RenderError("subject", 1, "the subject is empty")
    return Parts(
        subject,
        _render_part("html", parts.html, context),
        _render_part("text", parts.text, context),
    )


# --- shipped defaults ---------------------------------------------------------------


@functools.cache
def shipped_default(letter_type: str, locale: str) -> Parts | None:
    """`<type>.<locale>.txt` (a `Subject:` line, then the text) and `<type>.<locale>.html`."""
    text_file = DEFAULTS / f"{letter_type}.{locale}.txt"
    if not text_file.exists():
        return None
    first, _, text = text_file.read_text(encoding="utf-8").partition("\n")
    html = (DEFAULTS / f"{letter_type}.{locale}.html").read_text(encoding="utf-8")
    return Parts(first.removeprefix("Subject: ").strip(), html, text.lstrip("\n"))


# --- saved versions -----------------------------------------------------------------


def check_known(letter_type: str, locale: str) -> None:
    problems = {}
    if letter_type not in LETTER_TYPES:
        problems["letter_type"] = ["There is no such letter."]
    if locale not in LOCALES:
        problems["locale"] = [f"Letters are written in {', '.join(LOCALES)}."]
    if problems:
        raise InvalidInput("There is no such template.", fields=problems)


def versions(session: Session, letter_type: str, locale: str) -> Sequence[LetterTemplate]:
    return session.scalars(
        select(LetterTemplate)
        .where(LetterTemplate.letter_type == letter_type, LetterTemplate.locale == locale)
        .order_by(LetterTemplate.version.desc())
    ).all()


def _newest(session: Session, letter_type: str, locale: str) -> LetterTemplate | None:
    return session.scalars(
        select(LetterTemplate)
        .where(LetterTemplate.letter_type == letter_type, LetterTemplate.locale == locale)
        .order_by(LetterTemplate.version.desc())
        .limit(1)
    ).first()


def _own(session: Session, letter_type: str, locale: str) -> Parts | None:
    """This locale's own template: a saved version unless reset, else its shipped default."""
    newest = _newest(session, letter_type, locale)
    if newest is not None and not newest.is_default:
        return Parts(newest.subject, newest.html, newest.text)
    return shipped_default(letter_type, locale)


def effective(session: Session, letter_type: str, locale: str | None) -> tuple[str, Parts]:
    """The template a letter in `locale` uses, and the locale it is written in."""
    for candidate in dict.fromkeys((locale or DEFAULT_LOCALE, DEFAULT_LOCALE)):
        parts = _own(session, letter_type, candidate)
        if parts is not None:
            return candidate, parts
    raise RenderError("subject", None, f"there is no template for {letter_type}")


def save(
    session: Session,
    letter_type: str,
    locale: str,
    parts: Parts,
    author: str,
    sample_context: dict[str, Any],
) -> LetterTemplate:
    """A new version, refused (InvalidInput, by part, with the line) if it does not render."""
    check_known(letter_type, locale)
    try:
        render(parts, sample_context)
    except RenderError as err:
        raise refusal(err) from None
    return _add_version(session, letter_type, locale, parts, author, is_default=False)


def reset(session: Session, letter_type: str, locale: str, author: str) -> LetterTemplate:
    """Back to the shipped default, recorded as a version so the history stays whole."""
    check_known(letter_type, locale)
    _, parts = effective_default(letter_type, locale)
    return _add_version(session, letter_type, locale, parts, author, is_default=True)


def _add_version(
    session: Session, letter_type: str, locale: str, parts: Parts, author: str, is_default: bool
) -> LetterTemplate:
    version = (
        session.scalar(
            select(func.max(LetterTemplate.version)).where(
                LetterTemplate.letter_type == letter_type, LetterTemplate.locale == locale
            )
        )
        or 0
    ) + 1
    row = LetterTemplate(
        letter_type=letter_type,
        locale=locale,
        version=version,
        subject=parts.subject,
        html=parts.html,
        text=parts.text,
        is_default=is_default,
        created_by=author,
    )
    session.add(row)
    session.flush()
    return row


def effective_default(letter_type: str, locale: str) -> tuple[str, Parts]:
    for candidate in dict.fromkeys((locale, DEFAULT_LOCALE)):
        parts = shipped_default(letter_type, candidate)
        if parts is not None:
            return candidate, parts
    raise RenderError("subject", None, f"there is no template for {letter_type}")


def view(session: Session, letter_type: str, locale: str, variables: list[str]) -> dict[str, Any]:
    """A template as the editor shows it: what is used now, and its history."""
    check_known(letter_type, locale)
    history = versions(session, letter_type, locale)
    newest = history[0] if history else None
    customised = newest is not None and not newest.is_default
    if newest is not None and customised:
        parts = Parts(newest.subject, newest.html, newest.text)
        written_in = locale
    else:
        written_in, parts = effective_default(letter_type, locale)
    return {
        "letter_type": letter_type,
        "locale": locale,
        "written_in": written_in,
        "version": newest.version if newest else None,
        "is_default": not customised,
        "subject": parts.subject,
        "html": parts.html,
        "text": parts.text,
        "variables": variables,
        "versions": [
            {
                "version": row.version,
                "created_by": row.created_by,
                "created_at": row.created_at,
                "is_default": row.is_default,
            }
            for row in history
        ],
    }


def summaries(session: Session) -> list[dict[str, Any]]:
    newest: dict[tuple[str, str], LetterTemplate] = {}
    row: LetterTemplate | None  # None below where a letter and locale have no saved version
    for row in session.scalars(select(LetterTemplate).order_by(LetterTemplate.version)):
        newest[(row.letter_type, row.locale)] = row
    result = []
    for letter_type in LETTER_TYPES:
        for locale in LOCALES:
            row = newest.get((letter_type, locale))
            result.append(
                {
                    "letter_type": letter_type,
                    "locale": locale,
                    "version": row.version if row else None,
                    "is_default": row is None or row.is_default,
                    "has_own_default": shipped_default(letter_type, locale) is not None,
                    "updated_by": row.created_by if row else None,
                    "updated_at": row.created_at if row else None,
                }
            )
    return result
