"""Everything the gateway app is made of, registered here and nowhere else: WSGI middleware,
request hooks and extensions (in the order they run), then every blueprint."""

from __future__ import annotations

from flask import Flask

from gateway.api.bags import bags_api
from gateway.api.campus_events import campus_events_api
from gateway.api.dead_letters import dead_letters_api
from gateway.api.deposits import deposits_api
from gateway.api.event_interface import event_interface_api
from gateway.api.inventory import inventory_api
from gateway.api.items import items_api
from gateway.api.openapi import openapi_api
from gateway.api.profiles import profiles_api
from gateway.api.reviews import reviews_api
from gateway.api.staff import staff_api
from gateway.api.sword import sword
from gateway.api.systems import systems_api
from gateway.api.tus import method_override, tus
from gateway.api.usage import usage_api
from gateway.api.versions import versions_api
from gateway.auth import guard, oidc
from gateway.http import correlation, errors, i18n, idempotency, security, usage
from gateway.http.health import health
from gateway.http.proxies import ClientAddress
from gateway.http.silent_clients import SilentClients
from gateway.oai.pmh import oai
from gateway.presenters import statuses, validation_report
from gateway.web.account import account
from gateway.web.crawlers import crawlers
from gateway.web.exports import exports_pages
from gateway.web.portal import portal
from gateway.web.public import public
from gateway.web.saml import register as register_saml
from gateway.web.saml import saml_pages
from gateway.web.staff import inventory as staff_inventory_pages
from gateway.web.staff.corrections import staff_corrections
from gateway.web.staff.dashboard import staff_dashboard
from gateway.web.staff.dead_letters import staff_dead_letters
from gateway.web.staff.deposits import staff_deposits
from gateway.web.staff.inventory import staff_inventory
from gateway.web.staff.letters import staff_letters
from gateway.web.staff.mediated import staff_mediated
from gateway.web.staff.profiles import staff_profiles
from gateway.web.staff.reviews import staff_reviews
from gateway.web.staff.systems import staff_systems
from gateway.web.versions import versions_pages

HOOKS = (
    correlation.register,  # first: what the others log carries the request's ids
    i18n.register,
    errors.register,
    guard.register,
    idempotency.register,  # after auth: keys are kept per caller
    oidc.register,
    register_saml,
    security.register,
    statuses.register,
    validation_report.register,
    staff_inventory_pages.register,
    usage.register,
)

# the API blueprints in the order gateway/api/openapi.py describes them
BLUEPRINTS = (
    health,
    openapi_api,
    event_interface_api,
    profiles_api,
    inventory_api,
    deposits_api,
    tus,
    reviews_api,
    items_api,
    bags_api,
    versions_api,
    staff_api,
    systems_api,
    campus_events_api,
    usage_api,
    dead_letters_api,
    sword,
    portal,
    staff_profiles,
    staff_dashboard,
    staff_deposits,
    staff_mediated,
    staff_reviews,
    staff_letters,
    oai,
    public,
    exports_pages,
    staff_inventory,
    staff_dead_letters,
    staff_systems,
    account,
    saml_pages,
    versions_pages,
    staff_corrections,
    crawlers,
)

# read-only, harvesters may POST a form (OAI); the identity provider's POST, protected by
# its own cookie and signature (SAML); a campus system's request, let in by its token or
# signature and never by a session (the HTTP door); token only, a cookie counts for nothing
# (SWORD)
CSRF_EXEMPT = (oai, saml_pages, campus_events_api, sword)


def register(app: Flask) -> None:
    app.wsgi_app = ClientAddress(app.wsgi_app)  # type: ignore[method-assign]  # Flask's way
    app.wsgi_app = SilentClients(app.wsgi_app)  # type: ignore[method-assign]
    for hook in HOOKS:
        hook(app)
    guard.CSRF_EXEMPT_BLUEPRINTS.update(blueprint.name for blueprint in CSRF_EXEMPT)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.wsgi_app = method_override(app.wsgi_app)  # type: ignore[method-assign]
