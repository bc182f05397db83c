"""Staff-mediated deposit: library staff deposit for a patron.

Find the patron (by name, e-mail, username or id; the autocomplete in static/mediated.js
asks /api/v1/staff/patrons, and without JavaScript the same search runs as a page),
choose a profile whose mediators name the staff member's role or group (inactive ones
too, where they name them), and start the deposit. The metadata, files and
terms are then filled in on the usual deposit editor. Intake records the staff member as
`mediated_by`; approval decides it at once ("staff-mediated by ...")."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gateway.auth.guard import requires
from gateway.auth.identity import actor_for
from gateway.auth.patrons import MAX_QUERY, find_people, person, person_view
from gateway.rpc import rpc
from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import Forbidden, InvalidInput, NotFound
from kernel.policy.permissions import Action

staff_mediated = Blueprint("staff_mediated", __name__, url_prefix="/staff")


def starting_metadata(form: list[dict], patron: Actor, today: date) -> dict:
    """The patron as the creator and today as the date, in the profile's own fields."""
    metadata: dict[str, object] = {}
    for field in form:
        if field["type"] == "person" and field.get("dc") == "creator":
            creator = {"name": patron.name or patron.username}
            metadata[field["key"]] = [creator] if field.get("repeatable") else creator
        elif field["type"] == "date" and field.get("dc") == "date":
            metadata[field["key"]] = (
                [today.isoformat()] if field.get("repeatable") else today.isoformat()
            )
    return metadata


def _people(words: str | None, patron_id: str | None) -> tuple[list[dict], dict | None]:
    with current_app.extensions["lodge.database"].reading() as session:
        found = [person_view(u) for u in find_people(session, words or "", 20)] if words else []
        chosen = person(session, patron_id)
        return found, (person_view(chosen) if chosen else None)


def _patron_actor(patron_id: str) -> Actor | None:
    with current_app.extensions["lodge.database"].reading() as session:
        user = person(session, patron_id)
        return actor_for(user) if user else None


@staff_mediated.route("/mediated", methods=["GET", "POST"])
@requires(Action.MEDIATE)
def mediated_deposit():
    errors: dict[str, list[str]] = {}
    words = (request.values.get("q") or "").strip()[:MAX_QUERY] or None
    # a "Choose" button of the page's own search (no JavaScript) names the patron too
    patron_ids = request.values.getlist("patron_id")
    patron_id = next((value for value in reversed(patron_ids) if value), None)
    profile_id = request.values.get("profile_id") or None
    with rpc() as services:
        profiles = services.intake.list_profiles(actor=g.actor, mediated=True)
        if request.method == "POST":
            patron = _patron_actor(patron_id) if patron_id else None
            if patron is None:
                errors["patron_id"] = [_("Choose the patron you are depositing for.")]
            chosen = next((p for p in profiles if p["id"] == profile_id), None)
            if chosen is None:
                errors["profile_id"] = [_("Choose a profile.")]
            if not errors and chosen is not None and patron is not None:
                try:
                    deposit = services.intake.create_deposit(
                        actor=g.actor,
                        profile_id=profile_id,
                        on_behalf_of=patron,
                        metadata=starting_metadata(chosen["fields"], patron, date.today()),
                    )
                except (InvalidInput, Forbidden, NotFound) as err:
                    errors["profile_id"] = [err.message]
                else:
                    return redirect(url_for("portal.edit_deposit", deposit_id=deposit["id"]))
    found, chosen_patron = _people(words, patron_id)
    profiles = sorted(profiles, key=lambda p: (not p["active"], p["name"].casefold()))
    return render_template(
        "staff/mediated.html",
        profiles=profiles,
        found=found,
        words=words,
        patron=chosen_patron,
        profile_id=profile_id,
        errors=errors,
        searched=words is not None,
    ), 422 if errors else 200
