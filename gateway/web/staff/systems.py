"""Staff pages for managers: the campus systems registered to deposit for patrons, each with
its profiles and modes, its hosts, its broker user and its API tokens. What is checked and
stored is `gateway/campus/registry.py`; these pages parse forms into its terms."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from gateway.auth.guard import requires
from gateway.campus import registry
from gateway.models import User
from gateway.rpc import rpc
from kernel.contracts.exceptions import Conflict, InvalidInput, LodgeError
from kernel.platform.config import get_settings
from kernel.policy.permissions import Action

staff_systems = Blueprint("staff_systems", __name__, url_prefix="/staff/systems")


def _database():
    return current_app.extensions["lodge.database"]


def mode_names() -> dict[str, str]:
    return {
        "draft": _("A draft the patron completes and submits"),
        "submit": _("Submitted for the profile's approval"),
        "mediated": _("Deposited for the patron: no approval"),
    }


def _profiles() -> list[dict]:
    with rpc() as services:
        profiles = services.intake.list_profiles(actor=g.actor, include_inactive=True)
    return sorted(profiles, key=lambda p: (not p["active"], p["name"].casefold()))


def _form(profiles: list[dict], creating: bool) -> dict:
    """The form as the registry's terms; what a field left empty is not sent."""
    data: dict = {
        "label": request.form.get("label", "").strip(),
        "allowed_hosts": [
            line.strip()
            for line in request.form.get("allowed_hosts", "").splitlines()
            if line.strip()
        ],
        "sends_people": request.form.get("sends_people") == "on",
        "profiles": [
            {"profile_id": profile["id"], "mode": mode}
            for profile in profiles
            if (mode := request.form.get(f"mode-{profile['id']}"))
        ],
    }
    broker_user = request.form.get("broker_user", "").strip()
    if broker_user or not creating:
        data["broker_user"] = broker_user
    if creating:
        data["name"] = request.form.get("name", "").strip()
    return data


def _messages(value) -> list[str]:
    """Field messages as lines, however deep the registry's checks nested them."""
    if isinstance(value, dict):
        return [
            f"#{key + 1}: {line}" if isinstance(key, int) else line  # a list's entries from 1
            for key, inner in value.items()
            for line in _messages(inner)
        ]
    if isinstance(value, list):
        return [line for inner in value for line in _messages(inner)]
    return [str(value)]


def _errors(err: LodgeError) -> dict[str, list[str]]:
    errors = {key: _messages(value) for key, value in err.fields.items()}
    flash(err.message, "error")
    return errors


def _form_values(data: dict) -> dict:
    """What the form shows again after a refusal."""
    return {
        **data,
        "allowed_hosts": "\n".join(data.get("allowed_hosts", [])),
        "modes": {entry["profile_id"]: entry["mode"] for entry in data.get("profiles", [])},
    }


@staff_systems.route("", methods=["GET", "POST"])
@requires(Action.MANAGE_SYSTEMS)
def systems():
    """Every registered system, and the form to register one."""
    profiles = _profiles()
    values: dict = {"modes": {}}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        data = _form(profiles, creating=True)
        try:
            with _database().unit_of_work() as uow:
                system = registry.create_system(
                    uow.session, data, lambda: {p["id"] for p in profiles}, created_by=g.actor.id
                )
        except (InvalidInput, Conflict) as err:
            values, errors, status = _form_values(data), _errors(err), 422
        else:
            flash(_("%(label)s is registered.", label=system["label"]), "success")
            return redirect(url_for("staff_systems.system", system_id=system["id"]))
    with _database().reading() as session:
        listed = registry.list_systems(session)
    return render_template(
        "staff/systems.html",
        systems=listed,
        profiles=profiles,
        modes=mode_names(),
        values=values,
        errors=errors,
    ), status


def _system_page(system_id: str, **context):
    status = context.pop("status", 200)
    with _database().reading() as session:
        system = registry.get_system(session, system_id)
    values = context.pop("values", None) or {
        **system,
        "allowed_hosts": "\n".join(system["allowed_hosts"]),
        "modes": {entry["profile_id"]: entry["mode"] for entry in system["profiles"]},
    }
    return render_template(
        "staff/system.html",
        system=system,
        profiles=context.pop("profiles", None) or _profiles(),
        modes=mode_names(),
        values=values,
        errors=context.pop("errors", {}),
        token_errors=context.pop("token_errors", {}),
        new_token=context.pop("new_token", None),
        new_secret=context.pop("new_secret", None),
        max_days=get_settings().sign_in.token_max_days,
    ), status


@staff_systems.route("/<system_id>", methods=["GET", "POST"])
@requires(Action.MANAGE_SYSTEMS)
def system(system_id):
    """A system: change what it may do, its tokens, deactivation."""
    if request.method == "GET":
        return _system_page(system_id)
    profiles = _profiles()
    data = _form(profiles, creating=False)
    try:
        with _database().unit_of_work() as uow:
            changed = registry.update_system(
                uow.session, system_id, data, lambda: {p["id"] for p in profiles}
            )
    except (InvalidInput, Conflict) as err:
        return _system_page(
            system_id,
            profiles=profiles,
            values={**_form_values(data), "name": None},
            errors=_errors(err),
            status=422,
        )
    flash(_("%(label)s is saved.", label=changed["label"]), "success")
    return redirect(url_for("staff_systems.system", system_id=system_id))


@staff_systems.post("/<system_id>/tokens")
@requires(Action.MANAGE_SYSTEMS)
def issue_token(system_id):
    """The new token is on this answer only: the page is rendered, never redirected to."""
    days = request.form.get("days", "").strip()
    data = {
        "name": request.form.get("name", "").strip(),
        "days": int(days) if days.isdigit() else days,
    }
    try:
        with _database().unit_of_work() as uow:
            token = registry.issue_token(
                uow.session,
                system_id,
                data,
                max_days=get_settings().sign_in.token_max_days,
                created_by=uow.session.get_one(User, g.actor.id),
            )
    except (InvalidInput, Conflict) as err:
        return _system_page(system_id, token_errors=_errors(err), status=422)
    response, status = _system_page(system_id, new_token=token["token"], status=201)
    return response, status, {"Cache-Control": "no-store"}


@staff_systems.post("/<system_id>/webhook-secret")
@requires(Action.MANAGE_SYSTEMS)
def new_webhook_secret(system_id):
    """Shown on this answer only, like a token."""
    try:
        with _database().unit_of_work() as uow:
            secret = registry.new_webhook_secret(uow.session, system_id)
    except Conflict as err:
        return _system_page(system_id, errors=_errors(err), status=409)
    response, status = _system_page(system_id, new_secret=secret, status=201)
    return response, status, {"Cache-Control": "no-store"}


@staff_systems.post("/<system_id>/tokens/<token_id>/revoke")
@requires(Action.MANAGE_SYSTEMS)
def revoke_token(system_id, token_id):
    with _database().unit_of_work() as uow:
        registry.revoke_token(uow.session, system_id, token_id)
    flash(_("The token is revoked."), "success")
    return redirect(url_for("staff_systems.system", system_id=system_id))


@staff_systems.post("/<system_id>/active")
@requires(Action.MANAGE_SYSTEMS)
def change_active(system_id):
    active = request.form.get("active") == "true"
    with _database().unit_of_work() as uow:
        if active:
            changed = registry.update_system(uow.session, system_id, {"active": True}, set)
        else:
            changed = registry.deactivate_system(uow.session, system_id)
    flash(
        _("%(label)s is active again.", label=changed["label"])
        if active
        else _("%(label)s is deactivated: its tokens are revoked.", label=changed["label"]),
        "success",
    )
    return redirect(url_for("staff_systems.system", system_id=system_id))
