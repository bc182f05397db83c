"""Sign-in through the institution (OpenID Connect), and API tokens: a user's own on
/account/tokens, and any user's (campus systems) for admins on /staff/tokens."""
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

from gateway import auth, identity, oidc
from gateway.models import User
from gateway.staff.letters import tell_letters

account = Blueprint("account", __name__, template_folder="templates")
log = logging.getLogger(__name__)


def _database():
    return current_app.extensions["lodge.database"]


# --- OpenID Connect -------------------------------------------------------------------------

@account.get("/login/institution")
def institution_login():
    if oidc.settings() is None:
        abort(404)
    from gateway.portal import _safe_next
    session["after_sign_in"] = _safe_next(request.args.get("next"))
    try:
        return oidc.client().authorize_redirect(
            url_for("account.institution_callback", _external=True))
    except (RequestException, OAuthError, ValueError) as err:
        log.warning("identity provider unreachable: %s", err)
        flash(_("The sign-in service of %(name)s does not answer. Try again later.",
                name=oidc.settings().display_name), "error")
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
        flash(_("Signing in with %(name)s did not work. Please try again.",
                name=settings.display_name), "error")
        return render_template("login.html"), 400
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        flash(_("Signing in with %(name)s did not work. Please try again.",
                name=settings.display_name), "error")
        return render_template("login.html"), 400
    target = session.get("after_sign_in") or url_for("portal.home")
    with _database().unit_of_work() as uow:
        user = identity.provision_oidc_user(uow.session, settings.issuer, dict(claims),
                                            settings.mapping)
        uow.session.expunge(user)
    auth.sign_in(user)
    tell_letters(identity.actor_for(user))
    return redirect(target)


# --- API tokens -----------------------------------------------------------------------------

def _chosen_scopes(allowed: tuple[str, ...]) -> list[str]:
    return [scope for scope in request.form.getlist("scopes") if scope in allowed]


@account.route("/account/tokens", methods=["GET", "POST"])
@auth.login_required
def my_tokens():
    new_token, status = None, 200
    with _database().unit_of_work() as uow:
        user = uow.session.get(User, g.actor["id"])
        allowed = identity.scopes_for(user)
        if request.method == "POST":
            scopes = _chosen_scopes(allowed)
            if not scopes:
                flash(_("Choose at least one scope."), "error")
                status = 422
            else:
                new_token = identity.issue_token(uow.session, user, scopes,
                                                 name=request.form.get("name", ""))
                status = 201
        tokens = [t.as_dict() for t in identity.tokens_of(uow.session, user.id)]
        facts = {"name": user.name, "username": user.username, "groups": list(user.groups),
                 "roles": list(user.roles), "oidc_subject": user.oidc_subject}
    return render_template("account/tokens.html", tokens=tokens, allowed=allowed,
                           new_token=new_token, account=facts), status


@account.post("/account/tokens/<token_id>/revoke")
@auth.login_required
def revoke_my_token(token_id):
    with _database().unit_of_work() as uow:
        if not identity.revoke_token(uow.session, token_id, owner_id=g.actor["id"]):
            abort(404)
    flash(_("The token is revoked."), "success")
    return redirect(url_for("account.my_tokens"))


@account.route("/staff/tokens", methods=["GET", "POST"])
@auth.roles_required("admin")
def all_tokens():
    """Admins make tokens for campus systems' accounts and revoke anyone's."""
    new_token, status = None, 200
    with _database().unit_of_work() as uow:
        if request.method == "POST":
            holder = uow.session.scalar(select(User).where(
                User.username == request.form.get("username", "").strip()))
            scopes = _chosen_scopes(identity.TOKEN_SCOPES)
            if holder is None:
                flash(_("There is no user of that name."), "error")
                status = 422
            elif not scopes:
                flash(_("Choose at least one scope."), "error")
                status = 422
            else:
                creator = uow.session.get(User, g.actor["id"])
                new_token = identity.issue_token(uow.session, holder, scopes,
                                                 name=request.form.get("name", ""),
                                                 created_by=creator)
                status = 201
        rows = identity.tokens_of(uow.session)
        names = dict(uow.session.execute(select(User.id, User.username).where(
            User.id.in_({t.user_id for t in rows}))).all()) if rows else {}
        tokens = [{**t.as_dict(), "username": names.get(t.user_id, "?")} for t in rows]
    return render_template("staff/tokens.html", tokens=tokens, scopes=identity.TOKEN_SCOPES,
                           new_token=new_token), status


@account.post("/staff/tokens/<token_id>/revoke")
@auth.roles_required("admin")
def revoke_any_token(token_id):
    with _database().unit_of_work() as uow:
        if not identity.revoke_token(uow.session, token_id):
            abort(404)
    flash(_("The token is revoked."), "success")
    return redirect(url_for("account.all_tokens"))
