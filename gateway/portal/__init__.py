"""The patron portal: sign-in and "my deposits". Issue 3 grows it into the full portal."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from gateway import auth, identity

portal = Blueprint("portal", __name__, template_folder="../templates")


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so sign-in never redirects elsewhere."""
    if not target:
        return url_for("portal.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("portal.home")
    return target


@portal.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        database = current_app.extensions["lodge.database"]
        with database.reading() as session:
            user = identity.authenticate(session, request.form.get("username", ""),
                                         request.form.get("password", ""))
            if user is not None:
                auth.sign_in(user)
                return redirect(_safe_next(request.args.get("next")))
        flash("That username and password do not match.", "error")
        return render_template("login.html"), 401
    return render_template("login.html")


@portal.post("/logout")
def logout():
    auth.sign_out()
    return redirect(url_for("portal.login"))


@portal.get("/")
@auth.login_required
def home():
    with current_app.extensions["lodge.rpc"].client() as services:
        page = services.intake.list_deposits(actor=g.actor, status=None, depositor_id=None,
                                             page=max(request.args.get("page", 1, type=int), 1),
                                             per_page=25)
    return render_template("home.html", page=page)


@portal.get("/deposits/<deposit_id>")
@auth.login_required
def deposit(deposit_id):
    with current_app.extensions["lodge.rpc"].client() as services:
        record = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    return render_template("deposit.html", deposit=record)
