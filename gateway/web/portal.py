"""The patron portal: sign-in, my deposits, the deposit editor and page, item pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

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

from gateway.auth import guard as auth
from gateway.auth import identity
from gateway.files.quotas import quota_usage
from gateway.forms import deposit as deposit_form
from gateway.models import User
from gateway.presenters import validation_report
from gateway.presenters.reason_labels import system_reason_labels
from gateway.rpc import rpc
from gateway.web.public import collection_tree
from gateway.web.staff.letters import tell_letters
from kernel.contracts.deposits import STATUSES
from kernel.contracts.exceptions import (
    Forbidden,
    InvalidInput,
    LodgeError,
    NotFound,
    QuotaExceeded,
)
from kernel.contracts.people import LOCALES
from kernel.policy.permissions import Action

portal = Blueprint("portal", __name__)


def safe_next(target: str | None) -> str:
    """Only same-site paths, so sign-in never redirects elsewhere."""
    if not target:
        return url_for("portal.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("portal.home")
    return target


@portal.route("/login", methods=["GET", "POST"])
def login():
    """Local accounts; "Sign in with <institution>" leads to OpenID Connect when configured."""
    if request.method == "POST":
        username = request.form.get("username", "")
        database = current_app.extensions["lodge.database"]
        with database.unit_of_work() as uow:
            wait, reserved = identity.reserve_sign_in(uow.session, username, request.remote_addr)
        user = None
        if not wait:
            with database.unit_of_work() as uow:
                user = identity.authenticate(
                    uow.session, username, request.form.get("password", "")
                )
                if user is not None:
                    identity.forgive_sign_in(uow.session, username, reserved)
        if wait:
            minutes = max(1, round(wait / 60))
            flash(
                _("Too many failed sign-ins. Try again in %(minutes)d minute(s).", minutes=minutes),
                "error",
            )
            return render_template("login.html"), 429, {"Retry-After": str(wait)}
        if user is not None:
            locale = session.get("locale")
            auth.sign_in(user)
            if locale:
                session["locale"] = locale
            tell_letters(identity.actor_for(user))
            return redirect(safe_next(request.args.get("next")))
        flash(_("That username and password do not match."), "error")
        return render_template("login.html"), 401
    return render_template("login.html")


@portal.post("/logout")
def logout():
    auth.sign_out()
    flash(_("You are signed out."), "success")
    return redirect(url_for("portal.login"))


@portal.post("/language")
def choose_language():
    """The language switch; a signed-in user's letters follow it too."""
    locale = request.form.get("locale")
    if locale not in LOCALES:
        abort(400)
    session["locale"] = locale
    if g.actor is not None:
        with current_app.extensions["lodge.database"].unit_of_work() as uow:
            user = uow.session.get(User, g.actor.id)
            if user is not None:
                user.locale = locale
        tell_letters(replace(g.actor, locale=locale))
    return redirect(safe_next(request.form.get("next")))


# --- my deposits --------------------------------------------------------------


@portal.get("/")
def home():
    """Signed in: my deposits. Anyone else: the repository's front door, to browse and
    search it, with signing in offered."""
    if g.actor is None:
        with rpc() as services:
            roots = [c for c in collection_tree(services) if c["depth"] == 0]
        return render_template("welcome.html", collections=roots)
    return my_deposits()


@auth.login_required
def my_deposits():
    status = request.args.get("status") or None
    if status not in STATUSES:
        status = None
    page = max(request.args.get("page", 1, type=int), 1)
    with rpc() as services:
        # both asked at once: the page waits for the slower only
        listing = services.intake.list_deposits.call_async(
            actor=g.actor, status=status, depositor_id=None, page=page, per_page=25
        )
        quota = quota_usage(services, g.actor)
        deposits = listing.result()
    return render_template(
        "home.html", page=deposits, status=status, statuses=STATUSES, quota=quota
    )


@portal.get("/deposits/new")
@auth.login_required
def choose_profile():
    with rpc() as services:
        profiles = services.intake.list_profiles(actor=g.actor, include_inactive=False)
    return render_template("choose_profile.html", profiles=profiles)


@portal.post("/deposits/new")
@auth.login_required
def start_deposit():
    try:
        with rpc() as services:
            deposit = services.intake.create_deposit(
                actor=g.actor, profile_id=request.form.get("profile_id", ""), metadata={}
            )
    except QuotaExceeded as err:  # the list of deposits shows which ones to finish
        flash(err.message, "error")
        return redirect(url_for("portal.home"))
    return redirect(url_for("portal.edit_deposit", deposit_id=deposit["id"]))


def _deposit_and_profile(services, deposit_id: str) -> tuple[dict, dict]:
    deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    profile = services.intake.get_profile(
        actor=g.actor, profile_id=deposit["profile_id"], version=deposit["profile_version"]
    )
    return deposit, profile


def _reason_labels(services) -> dict[str, str]:
    labels = {
        reason["code"]: reason["label"] for reason in services.approval.list_reasons(actor=g.actor)
    }
    labels.update(system_reason_labels())
    return labels


@portal.get("/deposits/<deposit_id>")
@auth.login_required
def deposit(deposit_id):
    with rpc() as services:
        record, profile = _deposit_and_profile(services, deposit_id)
        labels = _reason_labels(services)
        # letters filters by the actor: a depositor gets only the letters sent to them
        deliveries = services.letters.list_deliveries(actor=g.actor, deposit_id=deposit_id)
    checks = {
        report["file_id"]: report for report in (record["validation_report"] or {}).get("files", [])
    }
    return render_template(
        "deposit.html",
        deposit=record,
        profile=profile,
        checks=checks,
        reasons=labels,
        deliveries=deliveries,
        staff_view=auth.may(Action.SEE_ALL_DEPOSITS),
        expected_decision=expected_decision(record, profile),
    )


def expected_decision(deposit: dict, profile: dict) -> date | None:
    """When a deposit in review should be decided, by the profile's turnaround target."""
    days = profile["approval"].get("turnaround_days")
    if deposit["status"] != "in_review" or not days:
        return None
    entered = next(
        (
            h["at"]
            for h in reversed(deposit["history"])
            if h["to_status"] == "in_review" and h["from_status"] == "submitted"
        ),
        None,
    )
    if entered is None:
        return None
    return (datetime.fromisoformat(entered) + timedelta(days=days)).date()


@portal.route("/deposits/<deposit_id>/edit", methods=["GET", "POST"])
@auth.login_required
def edit_deposit(deposit_id):
    with rpc() as services:
        record, profile = _deposit_and_profile(services, deposit_id)
        if "edit" not in record["allowed_actions"]:
            return redirect(url_for("portal.deposit", deposit_id=deposit_id))
        errors, status = {}, 200
        if request.method == "POST":
            metadata = deposit_form.parse(profile["fields"], request.form)
            access = _access_choice(profile)
            try:
                record = services.intake.update_deposit(
                    actor=g.actor,
                    deposit_id=deposit_id,
                    metadata=metadata,
                    access=access,
                    accept_terms=bool(request.form.get("accept_terms"))
                    if profile["terms"]
                    else None,
                )
                if request.form.get("action") == "submit":
                    services.intake.submit(actor=g.actor, deposit_id=deposit_id)
                    flash(_("Submitted. Lodge is checking your files now."), "success")
                    return redirect(url_for("portal.deposit", deposit_id=deposit_id))
                flash(_("Draft saved."), "success")
                return redirect(url_for("portal.edit_deposit", deposit_id=deposit_id))
            except InvalidInput as err:
                errors, status = err.fields, 422
                record = {**record, "metadata": metadata}
                flash(err.message, "error")
        labels = _reason_labels(services)
        prechecks = validation_report.kept_prechecks(services, record["files"])
        quota = quota_usage(services, g.actor)
    return render_template(
        "edit_deposit.html",
        deposit=record,
        profile=profile,
        errors=errors,
        reasons=labels,
        prechecks=prechecks,
        quota=quota,
        extensions=[ext.lower().lstrip(".") for ext in profile["file_rules"]["allowed_extensions"]],
        widgets=deposit_form.widgets(
            profile["fields"], record["metadata"], errors.get("metadata", {})
        ),
    ), status


def _access_choice(profile: dict) -> dict | None:
    """The access the form chose; None where the profile leaves no choice."""
    if profile["access"] != "embargo":
        return None
    if request.form.get("access") == "embargo":
        return {"policy": "embargo", "embargo_until": request.form.get("embargo_until") or None}
    return {"policy": "open", "embargo_until": None}


@portal.post("/deposits/<deposit_id>/files/<file_id>/remove")
@auth.login_required
def remove_file(deposit_id, file_id):
    with rpc() as services:
        services.intake.remove_file(actor=g.actor, deposit_id=deposit_id, file_id=file_id)
    flash(_("File removed."), "success")
    return redirect(url_for("portal.edit_deposit", deposit_id=deposit_id))


@portal.post("/deposits/<deposit_id>/<action>")
@auth.login_required
def deposit_action(deposit_id, action):
    if action not in ("submit", "withdraw"):
        abort(404)
    with rpc() as services:
        try:
            if action == "submit":
                services.intake.submit(actor=g.actor, deposit_id=deposit_id)
                flash(_("Submitted. Lodge is checking your files now."), "success")
            else:
                services.intake.withdraw(
                    actor=g.actor, deposit_id=deposit_id, note=request.form.get("note") or None
                )
                flash(_("The deposit was withdrawn."), "success")
        except (NotFound, Forbidden):
            raise  # another's deposit is not found, as everywhere else
        except LodgeError as err:
            flash(err.message, "error")
            if action == "submit":
                return redirect(url_for("portal.edit_deposit", deposit_id=deposit_id))
    return redirect(url_for("portal.deposit", deposit_id=deposit_id))


# --- items ----------------------------------------------------------------------


@portal.post("/items/<item_id>/withdraw")
@auth.requires(Action.WITHDRAW_ITEMS)
def withdraw_item(item_id):
    """A manager withdraws an item; its page becomes a tombstone."""
    reason = (request.form.get("reason") or "").strip()
    try:
        with rpc() as services:
            services.inventory.withdraw_item(actor=g.actor, item_id=item_id, reason=reason)
        flash(
            _("The item was withdrawn. Its page now says so, and harvesters see it deleted."),
            "success",
        )
    except InvalidInput:
        flash(_("Give a reason for the withdrawal."), "error")
    except LodgeError as err:
        flash(err.message, "error")
    return redirect(url_for("public.item", item_id=item_id))
