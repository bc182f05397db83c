"""Who is asking: a Bearer API token (REST API only) or a sign-in session cookie."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import timedelta

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect, validate_csrf
from wtforms.validators import ValidationError

from gateway.auth import identity, oidc
from gateway.models import User
from kernel.contracts.actors import Actor
from kernel.platform.config import get_settings
from kernel.policy.permissions import POLICY, Action, can, role_refused

csrf = CSRFProtect()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# read-only protocols whose clients POST forms without a session (OAI-PMH)
CSRF_EXEMPT_BLUEPRINTS: set[str] = set()


def bearer_token() -> str | None:
    """The token of an API request; tokens open the REST API only, never the pages."""
    if not request.path.startswith("/api/"):
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _database():
    return current_app.extensions["lodge.database"]


def sign_in(user: User) -> None:
    """A new server-side session and a fresh cookie, so nothing from before carries over."""
    locale = session.get("locale")
    sign_out()
    with _database().unit_of_work() as uow:
        session["sid"] = identity.start_session(uow.session, user)
    session.permanent = True
    if locale:
        session["locale"] = locale


def sign_out() -> None:
    session_id = session.get("sid")
    if session_id:
        with _database().unit_of_work() as uow:
            identity.end_session(uow.session, session_id)
    session.clear()


def _load_actor() -> None:
    g.actor = None
    g.token_scopes = None  # None: a browser session, which may use everything its roles allow
    token = bearer_token()
    if token:
        held = token_holder(token)
        if held is None:
            abort(
                401,
                description="The API token is not valid, has expired or its "
                "account is deactivated.",
            )
        g.actor, g.token_scopes = held
        return
    session_id = session.get("sid")
    if not session_id:
        return
    with _database().unit_of_work() as uow:
        user = identity.user_for_session(uow.session, session_id)
        if user is None:
            session.pop("sid", None)
            return
        g.actor = identity.actor_for(user)


def token_holder(token: str) -> tuple[Actor, frozenset[str]] | None:
    """The actor a live API token speaks for, with its roles as they stand now, and the
    token's scopes; None for a token that is not valid, has expired or whose account is
    deactivated."""
    with _database().unit_of_work() as uow:
        holder = identity.holder_of_token(uow.session, token)
        if holder is None:
            return None
        actor = replace(
            identity.actor_for(holder.user),
            roles=tuple(
                identity.roles_now(holder.user, *_claim_role_policy(holder.user.oidc_issuer))
            ),
        )
        return actor, holder.scopes


def _claim_role_policy(issuer: str | None) -> tuple[timedelta, tuple[str, ...]]:
    """How long roles from an identity provider's claims count after a sign-in, and the
    roles left after."""
    settings = oidc.settings()
    saml = current_app.extensions.get("lodge.saml")
    mapping = identity.mapping_for(
        issuer,
        (settings.issuer, settings.mapping) if settings else None,
        saml.settings.mapping if saml else None,
    )
    return (timedelta(days=get_settings().sign_in.oidc_roles_max_age_days), mapping.default_roles)


def register(app: Flask) -> None:
    app.jinja_env.globals.update(may=may, Action=Action)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)

    @app.before_request
    def authenticate_and_protect():
        _load_actor()
        # a Bearer request carries no ambient credentials, so CSRF cannot forge it; nor can
        # it forge an API request from someone not signed in, which gets its 401 instead
        if (
            request.method not in SAFE_METHODS
            and not bearer_token()
            and request.blueprint not in CSRF_EXEMPT_BLUEPRINTS
            and (g.actor is not None or not request.path.startswith("/api/"))
        ):
            protect_from_forgery()


def protect_from_forgery() -> None:
    """A token in the X-CSRFToken header is checked without touching the body: reading the
    form would open the body stream under the JSON size limit (and parse a multipart upload
    into temporary files) before an upload endpoint could stream it."""
    token = request.headers.get("X-CSRFToken")
    if token is None:
        csrf.protect()
        return
    try:
        validate_csrf(token)
    except ValidationError as err:
        raise CSRFError(err.args[0]) from None


def _check_scope(scopes: tuple[str, ...]) -> None:
    if g.token_scopes is not None and not set(scopes) & set(g.token_scopes):
        abort(
            403,
            description="This API token lacks the scope "
            + " or ".join(f"'{scope}'" for scope in scopes)
            + ".",
        )


def login_required(view=None, *, scope: str | tuple[str, ...] = "deposit"):
    """Signed in; an API token also needs `scope` (one of them, if several)."""
    scopes = (scope,) if isinstance(scope, str) else tuple(scope)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if g.actor is None:
                if request.path.startswith("/api/"):
                    abort(
                        401, description="Sign in, or send an API token as 'Authorization: Bearer'."
                    )
                return redirect(url_for("portal.login", next=request.full_path))
            _check_scope(scopes)
            return view(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def may(action: Action) -> bool:
    """Whether the one asking may take `action`: for views, and for menus and buttons."""
    return g.get("actor") is not None and can(g.actor, action)


def requires(action: Action):
    """The gateway's own check of the permission table; the services check again. A token
    needs one of the scopes the table gives the action."""

    def decorate(view):
        @login_required(scope=POLICY[action].scopes)
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not may(action):
                abort(403, description=role_refused(action).message)
            return view(*args, **kwargs)

        return wrapper

    return decorate
