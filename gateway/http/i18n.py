"""Languages: English and German, chosen by a switch on the page or by the browser.

Catalogues live as .po files beside the code and are compiled into the data folder
when the app starts, so no compiled file is kept in the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations
from flask import Flask, g, request, session
from flask_babel import Babel, get_locale, get_translations

from kernel.contracts.people import DEFAULT_LOCALE, LOCALES
from kernel.platform.config import get_settings

CATALOGUES = Path(__file__).parents[1] / "translations"  # gateway/translations


def select_locale() -> str:
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    actor = getattr(g, "actor", None)
    if actor and actor.locale in LOCALES:
        return actor.locale
    return request.accept_languages.best_match(LOCALES) or DEFAULT_LOCALE


def compile_catalogues(target: Path) -> Path:
    """Compile each .po that is newer than its .mo into `target`."""
    for po_path in CATALOGUES.glob("*/LC_MESSAGES/*.po"):
        mo_path = target / po_path.relative_to(CATALOGUES).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with open(po_path, "rb") as source:
            catalogue = read_po(source)
        # each gunicorn worker compiles at start; a name of its own keeps them apart
        partial = mo_path.with_suffix(f".{os.getpid()}.partial")
        with open(partial, "wb") as out:
            write_mo(out, catalogue)
        partial.replace(mo_path)
    return target


def request_translations() -> NullTranslations:
    """The request's catalogue, looked up once a request. Flask-Babel's own template
    callables find the domain, the locale and its catalogue again for every string: a
    page of 25 review tasks has hundreds. The locale is chosen once a request either way."""
    if not g:  # outside an app context: Flask-Babel's empty catalogue
        return get_translations()
    try:
        return g._lodge_translations
    except AttributeError:
        g._lodge_translations = get_translations()
        return g._lodge_translations


def register(app: Flask) -> None:
    compiled_dir = get_settings().data_dir / "translations"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogues(compiled_dir))
    Babel(app, locale_selector=select_locale)
    # jinja2.ext.i18n (which Babel added) gives the environment this method
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(LANGUAGES=LOCALES, get_locale=get_locale)
