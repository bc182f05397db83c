"""The gateway: a thin Flask app serving the portal, the REST API and the health endpoints."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask

from gateway.security import MAX_JSON_BYTES
from kernel.platform.config import get_settings
from kernel.platform.db import Database


def create_app(overrides: dict | None = None) -> Flask:
    settings = get_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key(),
        SESSION_COOKIE_NAME="lodge_session",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        MAX_CONTENT_LENGTH=MAX_JSON_BYTES,  # uploads raise it per request
        JSON_SORT_KEYS=False,
    )
    app.config.update(overrides or {})
    from gateway.proxies import ClientAddress
    app.wsgi_app = ClientAddress(app.wsgi_app)

    from gateway.rpc import RpcPool
    app.extensions["lodge.database"] = Database(settings.database_url("gateway"), source="gateway")
    app.extensions["lodge.rpc"] = RpcPool(settings.broker_uri("gateway"), settings.rpc_pool_size,
                                          settings.rpc_timeout)

    from gateway import auth, errors, health, i18n, idempotency, oidc, security
    from gateway.account import account
    from gateway.api import api
    from gateway.oai import oai
    from gateway.api.staff import staff_api
    from gateway.api.tus import method_override, tus
    from gateway.portal import portal
    from gateway.staff import staff
    from gateway.staff.letters import staff_letters
    from gateway.public import public
    from gateway.staff_inventory import staff_inventory

    i18n.register(app, settings.data_dir / "translations")
    errors.register(app)
    auth.register(app)
    idempotency.register(app)  # after auth: keys are kept per caller
    oidc.register(app)
    security.register(app)
    health.register(app)
    app.register_blueprint(api)
    app.register_blueprint(tus)
    app.register_blueprint(portal)
    app.register_blueprint(staff)
    app.register_blueprint(staff_letters)
    app.register_blueprint(oai)
    app.register_blueprint(public)
    app.register_blueprint(staff_inventory)
    app.register_blueprint(staff_api)
    app.register_blueprint(account)
    app.wsgi_app = method_override(app.wsgi_app)
    return app
