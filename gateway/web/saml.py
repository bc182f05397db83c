"""SAML 2.0 sign-in pages: Lodge's service provider metadata, the identity provider choice
(discovery), the AuthnRequest by HTTP-Redirect and the assertion consumer (HTTP-POST).
The SAML work itself is in gateway/auth/saml.py and saml_provider.py.

The identity provider's POST to /saml/acs is cross-site, so the session cookie
(SameSite=Lax) does not come with it: the request a response answers is found by a cookie
of its own (`lodge_saml`, SameSite=None when cookies are Secure), scoped to /saml/acs and
holding a secret whose hash the `saml_requests` row keeps. That cookie and the signed
response are the ACS's protection from forgery, so the blueprint is CSRF-exempt (its only
POST is the ACS)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from gateway.auth import guard as auth
from gateway.auth import identity
from gateway.auth.saml import (
    MetadataUnavailable,
    SamlRefused,
    SamlSettings,
    forget_old_requests,
)
from gateway.web.portal import safe_next
from gateway.web.staff.letters import tell_letters

if TYPE_CHECKING:
    from gateway.auth.saml_provider import ServiceProvider

saml_pages = Blueprint("saml", __name__)
log = logging.getLogger(__name__)

COOKIE = "lodge_saml"
COOKIE_PATH = "/saml/acs"
MAX_RESPONSE_CHARS = 512 * 1024  # a signed assertion is a few KiB


def register(app: Flask) -> None:
    settings = SamlSettings.from_settings()
    app.extensions["lodge.saml"] = None
    if settings:
        from gateway.auth.saml_provider import ServiceProvider  # pysaml2: only when configured

        app.extensions["lodge.saml"] = ServiceProvider(settings)
    app.jinja_env.globals["saml_name"] = settings.display_name if settings else None


def provider() -> ServiceProvider:
    found = current_app.extensions.get("lodge.saml")
    if found is None:
        abort(404)
    return found


def _database():
    return current_app.extensions["lodge.database"]


def _refused(status: int = 400):
    flash(
        _(
            "Signing in with %(name)s did not work. Please try again.",
            name=provider().settings.display_name,
        ),
        "error",
    )
    return render_template("login.html"), status


def _unavailable():
    flash(
        _(
            "The sign-in service of %(name)s does not answer. Try again later.",
            name=provider().settings.display_name,
        ),
        "error",
    )
    return render_template("login.html"), 503


@saml_pages.get("/saml/metadata")
def metadata():
    try:
        xml = provider().metadata_xml()
    except MetadataUnavailable:
        abort(503)
    return Response(xml, mimetype="application/samlmetadata+xml")


@saml_pages.get("/saml/login")
def login():
    """The chosen identity provider, or the choice when several are offered."""
    sp = provider()
    after = safe_next(request.args.get("next"))
    try:
        idps = sp.identity_providers()
    except MetadataUnavailable:
        return _unavailable()
    chosen = request.args.get("idp", "")
    if not chosen and len(idps) == 1:
        chosen = idps[0][0]
    if not chosen:
        return render_template("saml_discovery.html", idps=idps, after=after)
    if chosen not in dict(idps):
        flash(_("Choose your institution from the list."), "error")
        return render_template("saml_discovery.html", idps=idps, after=after), 400
    with _database().unit_of_work() as uow:
        forget_old_requests(uow.session)
        location, browser_secret = sp.start(uow.session, chosen, after)
    answer = redirect(location)
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    answer.set_cookie(
        COOKIE,
        browser_secret,
        max_age=600,
        path=COOKIE_PATH,
        secure=secure,
        httponly=True,
        # a cross-site POST carries only SameSite=None cookies, which browsers take only
        # when Secure; plain-HTTP development keeps Lax (same-site identity providers only)
        samesite="None" if secure else "Lax",
    )
    return answer


@saml_pages.post("/saml/acs")
def acs():
    sp = provider()
    response = request.form.get("SAMLResponse", "")
    browser_secret = request.cookies.get(COOKIE, "")
    if not response or len(response) > MAX_RESPONSE_CHARS or not browser_secret:
        log.warning("SAML response refused: missing, oversized or without its request cookie")
        return _refused()
    try:
        with _database().unit_of_work() as uow:
            person, after = sp.finish(uow.session, response, browser_secret)
            user = identity.provision_user(
                uow.session, person.issuer, person.subject, person.claims, sp.settings.mapping
            )
            uow.session.expunge(user)
    except SamlRefused as err:
        log.warning("SAML response refused: %s", err)
        return _refused()
    except MetadataUnavailable:
        return _unavailable()
    if user.deactivated_at is not None:
        flash(_("This account is deactivated. Ask the library if you need it again."), "error")
        return render_template("login.html"), 403
    auth.sign_in(user)
    tell_letters(identity.actor_for(user))
    answer = redirect(after or url_for("portal.home"))
    answer.delete_cookie(COOKIE, path=COOKIE_PATH)
    return answer
