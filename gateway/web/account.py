"""Sign-in through the institution (OpenID Connect); API tokens: a user's own on
/account/tokens, and any user's (campus systems) for admins on /staff/tokens; and the
admins' accounts page, where accounts are deactivated and reactivated."""

from __future__ import annotations

import logging

from authlib.integrations.base_client.errors import OAuthError
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from requests import RequestException
from sqlalchemy import select

from gateway.auth import guard as auth
from gateway.auth import identity, oidc
from gateway.auth.patrons import MAX_QUERY, MAX_RESULTS, find_people
from gateway.auth.people_events import end_duties
from gateway.models import User
from gateway.rpc import rpc
from gateway.web.portal import safe_next
from gateway.web.staff.letters import register_recipient, tell_letters
from kernel.contracts.exceptions import Conflict, NotFound
from kernel.platform.config import get_settings
from kernel.policy.permissions import SCOPES, STAFF_ROLES, Action

account = Blueprint("account", __name__)
log = logging.getLogger(__name__)


def _database():
    return current_app.extensions["lodge.database"]


# --- OpenID Connect -------------------------------------------------------------------------


@account.get("/login/institution")
def institution_login():
    settings = oidc.settings()
    if settings is None:
        abort(404)
    session["after_sign_in"] = safe_next(request.args.get("next"))
    try:
        return oidc.client().authorize_redirect(
            url_for("account.institution_callback", _external=True)
        )
    except (RequestException, OAuthError, ValueError) as err:
        log.warning("identity provider unreachable: %s", err)
        flash(
            _(
                "The sign-in service of %(name)s does not answer. Try again later.",
                name=settings.display_name,
            ),
            "error",
        )
        return render_template("login.html"), 503


@account.get("/login/institution/callback")
def institution_callback():
    settings = oidc.settings()
    if settings is None:
        abort(404)
    try:
        token = oidc.client().authorize_access_token()
    except (OAuthError, RequestException, ValueError) as err:
        # a wrong or replayed state, a refused sign-in, a bad ID token: never signed in
        log.warning("institutional sign-in refused: %s", err)
        flash(
            _(
                "Signing in with %(name)s did not work. Please try again.",
                name=settings.display_name,
            ),
            "error",
        )
        return render_template("login.html"), 400
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        flash(
            _(
                "Signing in with %(name)s did not work. Please try again.",
                name=settings.display_name,
            ),
            "error",
        )
        return render_template("login.html"), 400
    target = session.get("after_sign_in") or url_for("portal.home")
    with _database().unit_of_work() as uow:
        user = identity.provision_user(
            uow.session, settings.issuer, str(claims["sub"]), dict(claims), settings.mapping
        )
        uow.session.expunge(user)
    if user.deactivated_at is not None:
        flash(_("This account is deactivated. Ask the library if you need it again."), "error")
        return render_template("login.html"), 403
    auth.sign_in(user)
    tell_letters(identity.actor_for(user))
    return redirect(target)


# --- API tokens -----------------------------------------------------------------------------


def _days(text: str, default: int) -> int | None:
    """The lifetime asked for; the default when none is given, None when not a number."""
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        return None


def _new_token(session, holder: User, allowed: tuple[str, ...], creator: User):
    """The token the form asks for, or the form's errors: (token, errors, status)."""
    scopes = [scope for scope in request.form.getlist("scopes") if scope in allowed]
    max_days = get_settings().sign_in.token_max_days
    days = _days(request.form.get("days", "").strip(), max_days)
    if not scopes:
        flash(_("Choose at least one scope."), "error")
        return None, {}, 422
    if days is None or not 1 <= days <= max_days:
        return None, {"days": _("Choose from 1 to %(days)d days.", days=max_days)}, 422
    try:
        token = identity.issue_token(
            session,
            holder,
            scopes,
            name=request.form.get("name", ""),
            created_by=creator,
            days=days,
            max_days=max_days,
        )
    except ValueError:  # the lifetime and scopes are checked above: a deactivated account
        flash(_("That account is deactivated."), "error")
        return None, {}, 422
    return token, {}, 201


@account.route("/account/tokens", methods=["GET", "POST"])
@auth.login_required
def my_tokens():
    new_token, errors, status = None, {}, 200
    with _database().unit_of_work() as uow:
        user = uow.session.get(User, g.actor.id)
        allowed = identity.scopes_for(user)
        if request.method == "POST":
            new_token, errors, status = _new_token(uow.session, user, allowed, user)
        tokens = [t.as_dict() for t in identity.tokens_of(uow.session, user.id)]
        facts = {
            "name": user.name,
            "username": user.username,
            "groups": list(user.groups),
            "roles": list(user.roles),
            "oidc_subject": user.oidc_subject,
        }
    return render_template(
        "account/tokens.html",
        tokens=tokens,
        allowed=allowed,
        new_token=new_token,
        account=facts,
        errors=errors,
        max_days=get_settings().sign_in.token_max_days,
    ), status


@account.post("/account/tokens/<token_id>/revoke")
@auth.login_required
def revoke_my_token(token_id):
    with _database().unit_of_work() as uow:
        if not identity.revoke_token(uow.session, token_id, owner_id=g.actor.id):
            abort(404)
    flash(_("The token is revoked."), "success")
    return redirect(url_for("account.my_tokens"))


@account.route("/staff/tokens", methods=["GET", "POST"])
@auth.requires(Action.MANAGE_ACCOUNTS)
def all_tokens():
    """Admins make tokens for campus systems' accounts and revoke anyone's."""
    new_token, errors, status = None, {}, 200
    with _database().unit_of_work() as uow:
        if request.method == "POST":
            holder = uow.session.scalar(
                select(User).where(User.username == request.form.get("username", "").strip())
            )
            if holder is None:
                flash(_("There is no user of that name."), "error")
                status = 422
            else:
                new_token, errors, status = _new_token(
                    uow.session, holder, SCOPES, uow.session.get(User, g.actor.id)
                )
        rows = identity.tokens_of(uow.session)
        names = (
            dict(
                uow.session.execute(
                    select(User.id, User.username).where(User.id.in_({t.user_id for t in rows}))
                ).all()
            )
            if rows
            else {}
        )
        tokens = [{**t.as_dict(), "username": names.get(t.user_id, "?")} for t in rows]
    return render_template(
        "staff/tokens.html",
        tokens=tokens,
        scopes=SCOPES,
        new_token=new_token,
        errors=errors,
        max_days=get_settings().sign_in.token_max_days,
    ), status


@account.post("/staff/tokens/<token_id>/revoke")
@auth.requires(Action.MANAGE_ACCOUNTS)
def revoke_any_token(token_id):
    with _database().unit_of_work() as uow:
        if not identity.revoke_token(uow.session, token_id):
            abort(404)
    flash(_("The token is revoked."), "success")
    return redirect(url_for("account.all_tokens"))


# --- deactivating accounts ------------------------------------------------------------------


def account_view(user: User) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "roles": list(user.roles),
        "active": user.deactivated_at is None,
        "deactivated_at": user.deactivated_at,
    }


def set_active(user_id: str, active: bool) -> dict:
    """Deactivate or reactivate an account (admins; never their own). Letters hear of it, and
    approval releases a deactivated account's claims, after the change is stored, so a retry
    after either failed to answer changes nothing twice."""
    if user_id == g.actor.id:
        raise Conflict(_("You cannot deactivate or reactivate your own account."))
    with _database().unit_of_work() as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound(_("There is no such account."))
        # staff hear letters; a repeat (letters may not have heard) tells them again
        tell = bool(STAFF_ROLES.intersection(user.roles)) or user.deactivated_at is not None
        if active:
            identity.reactivate(user)
        else:
            identity.deactivate(uow.session, user)
        actor, view = identity.actor_for(user), account_view(user)
    try:
        if active:
            register_recipient(actor)
        elif tell:
            with rpc() as services:
                end_duties(services, actor, by=g.actor)
    except Exception:  # any RPC failure; the change itself is stored
        log.warning(
            "letters or approval did not hear that account %s changed", user_id, exc_info=True
        )
        abort(
            503,
            description=_(
                "The account is changed, but the letters service did not "
                "hear of it. Please do it again shortly."
            ),
        )
    return view


@account.get("/staff/accounts")
@auth.requires(Action.MANAGE_ACCOUNTS)
def accounts():
    q = request.args.get("q", "").strip()[:MAX_QUERY]
    with _database().reading() as session:
        people = (
            find_people(session, q, MAX_RESULTS)
            if q
            else session.scalars(select(User).order_by(User.created_at.desc()).limit(MAX_RESULTS))
        )
        people = [account_view(user) for user in people]
    return render_template("staff/accounts.html", people=people, q=q)


@account.post("/staff/accounts/<user_id>")
@auth.requires(Action.MANAGE_ACCOUNTS)
def change_account(user_id):
    active = request.form.get("active") == "true"
    view = set_active(user_id, active)
    flash(
        _("%(username)s is active again.", username=view["username"])
        if active
        else _("%(username)s is deactivated.", username=view["username"]),
        "success",
    )
    return redirect(url_for("account.accounts"))
