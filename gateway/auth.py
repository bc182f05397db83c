"""Who is asking: a Bearer API token, or a signed session cookie with a CSRF token."""
from __future__ import annotations

import functools
import time

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect, validate_csrf
from wtforms.validators import ValidationError

from gateway import identity
from gateway.models import User

csrf = CSRFProtect()
IDLE_TIMEOUT = 30 * 60
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# read-only protocols whose clients POST forms without a session (OAI-PMH)
CSRF_EXEMPT_BLUEPRINTS: set[str] = set()


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def sign_in(user: User) -> None:
    session.clear()  # a fresh session on sign-in, so no fixation carries over
    session.permanent = True
    session["user_id"] = user.id
    session["signed_in_at"] = session["seen_at"] = int(time.time())


def sign_out() -> None:
    session.clear()


def _load_actor() -> None:
    g.actor = None
    token = bearer_token()
    database = current_app.extensions["lodge.database"]
    if token:
        with database.unit_of_work() as uow:
            user = identity.user_for_token(uow.session, token)
            if user is None:
                abort(401, description="The API token is not valid.")
            g.actor = identity.actor_for(user)
        return
    user_id = session.get("user_id")
    if not user_id:
        return
    now = int(time.time())
    if now - session.get("seen_at", 0) > IDLE_TIMEOUT:
        session.clear()
        return
    session["seen_at"] = now
    with database.reading() as db:
        user = db.get(User, user_id)
        g.actor = identity.actor_for(user) if user else None


def register(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)

    @app.before_request
    def authenticate_and_protect():
        _load_actor()
        # a Bearer request carries no ambient credentials, so CSRF cannot forge it
        if (request.method not in SAFE_METHODS and not bearer_token()
                and request.blueprint not in CSRF_EXEMPT_BLUEPRINTS):
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


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.actor is None:
            if request.path.startswith("/api/"):
                abort(401, description="Sign in, or send an API token as 'Authorization: Bearer'.")
            return redirect(url_for("portal.login", next=request.full_path))
        return view(*args, **kwargs)
    return wrapper


def roles_required(*roles: str):
    """The gateway's own check; the services check again."""
    def decorate(view):
        @login_required
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            held = set(g.actor["roles"])
            if "admin" not in held and not held.intersection(roles):
                abort(403, description=f"This needs the role {' or '.join(roles)}.")
            return view(*args, **kwargs)
        return wrapper
    return decorate
