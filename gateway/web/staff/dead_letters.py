"""The admins' page for dead letters: each service's count, a filtered list of one
service's letters with reason, queue, age and the payload's start, a letter's headers and
payload, and replay and drop buttons. Thin views over the services' RPCs, which check the
role again and log every action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gateway.api.dead_letters import counts, drop, letters_of, replay, show
from gateway.auth.guard import requires
from gateway.forms.profile import N_
from gateway.rpc import rpc
from kernel.contracts.dead_letters import PARKED, STATES, DeadLetterFilters
from kernel.contracts.exceptions import Conflict, InvalidInput
from kernel.contracts.rpc import load_or_raise
from kernel.platform.config import SERVICE_NAMES
from kernel.policy.permissions import Action

staff_dead_letters = Blueprint("staff_dead_letters", __name__, url_prefix="/staff/dead-letters")

AGES = {
    "1h": (timedelta(hours=1), N_("over an hour ago")),
    "1d": (timedelta(days=1), N_("over a day ago")),
    "1w": (timedelta(weeks=1), N_("over a week ago")),
}
STATE_NAMES = {"parked": N_("Waiting"), "replayed": N_("Replayed"), "dropped": N_("Dropped")}


def chosen_service(by_service: dict[str, dict]) -> str:
    """The service asked for, else the first holding parked letters."""
    asked = request.args.get("service")
    if asked in SERVICE_NAMES:
        return asked
    return next((name for name, count in by_service.items() if count[PARKED]), SERVICE_NAMES[0])


def filters_asked() -> tuple[dict, dict]:
    """The list's filters from the query string, and the form's values to show again."""
    shown = {
        "state": request.args.get("state", PARKED),
        "reason": request.args.get("reason", ""),
        "age": request.args.get("age", ""),
        "page": request.args.get("page", "1"),
    }
    asked: dict = {key: shown[key] for key in ("state", "page")}
    if shown["reason"].strip():
        asked["reason"] = shown["reason"].strip()
    if shown["age"] in AGES:
        asked["failed_before"] = (datetime.now(UTC) - AGES[shown["age"]][0]).isoformat()
    return load_or_raise(DeadLetterFilters(), asked), shown


@staff_dead_letters.get("")
@requires(Action.MANAGE_DEAD_LETTERS)
def letters():
    status, errors = 200, {}
    with rpc() as services:
        by_service = counts(services)
        service = chosen_service(by_service)
        try:
            filters, shown = filters_asked()
            page = letters_of(services, service, filters)
        except InvalidInput as err:
            status, errors = 422, err.fields
            shown = {"state": PARKED, "reason": "", "age": "", "page": "1"}
            page = letters_of(services, service, {"state": PARKED})
    if errors:
        flash(_("Those filters cannot be used: see the messages by the fields."), "error")
    pages = max(1, -(-page["total"] // page["per_page"]))

    def page_url(number: int) -> str:
        wanted = {key: value for key, value in shown.items() if value and key != "page"}
        return url_for(".letters", service=service, page=number, **wanted)

    return render_template(
        "staff/dead_letters.html",
        by_service=by_service,
        service=service,
        page=page,
        pages=pages,
        page_url=page_url,
        shown=shown,
        errors=errors,
        states=STATES,
        state_names={key: _(name) for key, name in STATE_NAMES.items()},
        ages={key: _(label) for key, (_age, label) in AGES.items()},
    ), status


def letter_page(services, service: str, letter_id: int, errors: dict | None = None, note=""):
    return render_template(
        "staff/dead_letter.html",
        letter=show(services, service, letter_id),
        state_names={key: _(name) for key, name in STATE_NAMES.items()},
        errors=errors or {},
        note=note,
    )


@staff_dead_letters.get("/<service>/<int:letter_id>")
@requires(Action.MANAGE_DEAD_LETTERS)
def letter(service, letter_id):
    with rpc() as services:
        return letter_page(services, service, letter_id)


@staff_dead_letters.post("/<service>/<int:letter_id>/replay")
@requires(Action.MANAGE_DEAD_LETTERS)
def replay_letter(service, letter_id):
    with rpc() as services:
        try:
            replay(services, service, letter_id)
        except Conflict as err:
            flash(err.message, "error")
            return letter_page(services, service, letter_id), 409
    flash(_("Sent back to its handler."), "success")
    return redirect(url_for(".letter", service=service, letter_id=letter_id))


@staff_dead_letters.post("/<service>/<int:letter_id>/drop")
@requires(Action.MANAGE_DEAD_LETTERS)
def drop_letter(service, letter_id):
    note = request.form.get("note", "").strip()
    with rpc() as services:
        try:
            drop(services, service, letter_id, note)
        except Conflict as err:
            flash(err.message, "error")
            return letter_page(services, service, letter_id), 409
        except InvalidInput as err:
            flash(_("It was not dropped: see the message by the field."), "error")
            return letter_page(services, service, letter_id, err.fields, note), 422
    flash(_("Dropped; it stays listed under Dropped."), "success")
    return redirect(url_for(".letter", service=service, letter_id=letter_id))
