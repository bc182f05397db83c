"""The gateway's app factory: settings, its database and RPC pool, then everything in
gateway/blueprints.py."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from gateway import blueprints
from gateway.http.security import MAX_JSON_BYTES
from gateway.rpc import RpcPool
from kernel.platform.config import get_settings
from kernel.platform.db import Database


def create_app(overrides: dict | None = None) -> Flask:
    settings = get_settings()
    app = Flask("gateway")  # the package: its logger's name, templates and static files
    app.config.update(
        SECRET_KEY=settings.secret_key(),
        SESSION_COOKIE_NAME="lodge_session",
        SESSION_COOKIE_SECURE=settings.sign_in.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        MAX_CONTENT_LENGTH=MAX_JSON_BYTES,  # uploads raise it per request
        JSON_SORT_KEYS=False,
    )
    app.config.update(overrides or {})
    app.extensions["lodge.database"] = Database(settings.database_url("gateway"), source="gateway")
    app.extensions["lodge.rpc"] = RpcPool(
        settings.broker_uri("gateway"),
        settings.processes.rpc_pool_size,
        settings.processes.rpc_timeout,
    )
    blueprints.register(app)
    return app
