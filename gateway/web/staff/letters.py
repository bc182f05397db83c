"""Staff pages for letters: the managers' template editor with a live preview, and every
staff user's choice between letters at once and a daily digest.

Letters owns the templates; these pages are thin views over its RPCs, which check the role
again. The preview is fetched by static/letter-editor.js (no inline script).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from gateway.auth.guard import requires
from gateway.forms.profile import N_
from gateway.rpc import rpc
from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import InvalidInput, NotFound
from kernel.contracts.letters import LETTER_PARTS, LETTER_TYPES
from kernel.contracts.people import LOCALES
from kernel.policy.permissions import Action, can

staff_letters = Blueprint("staff_letters", __name__, url_prefix="/staff/letters")

LETTER_NAMES = {
    "deposit_submitted": N_("Deposit submitted"),
    "validation_failed": N_("Automatic checks failed"),
    "deposit_archived": N_("Approved and archived"),
    "deposit_declined": N_("Declined"),
    "deposit_returned": N_("Returned for changes"),
    "deposit_withdrawn": N_("Withdrawn"),
    "deposit_created_on_behalf": N_("Deposited on the patron's behalf"),
    "review_requested": N_("New deposit awaiting review"),
    "review_overdue": N_("Review overdue"),
    "review_digest": N_("Daily digest"),
    "token_expiring": N_("API token expires soon"),
}
AUDIENCES = {
    "review_requested": N_("Approvers"),
    "review_overdue": N_("Approvers"),
    "review_digest": N_("Approvers"),
    "token_expiring": N_("Token owner"),
}


def translated(messages: dict[str, str]) -> dict[str, str]:
    return {key: _(message) for key, message in messages.items()}


def register_recipient(actor: Actor, delivery: str | None = None) -> None:
    """Tell letters who a staff user is, so approvers' letters can reach them."""
    if not can(actor, Action.SEE_ALL_DEPOSITS):
        return
    with rpc() as services:
        services.letters.save_recipient(actor=actor, delivery=delivery)


def tell_letters(actor: Actor) -> None:
    """At sign-in: staff are letters' recipients, so tell letters who they are now. Signing
    in must not fail because letters is busy; a failure is logged and the next sign-in tries
    again."""
    try:
        register_recipient(actor)
    except Exception:  # any RPC failure
        current_app.logger.warning("letters did not take %s's details", actor.id, exc_info=True)


def _known(letter_type: str, locale: str) -> None:
    if letter_type not in LETTER_TYPES or locale not in LOCALES:
        abort(404, description=_("There is no such letter."))


@staff_letters.get("")
@requires(Action.MANAGE_LETTERS)
def templates():
    with rpc() as services:
        rows = services.letters.list_templates(actor=g.actor)
    by_type: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_type.setdefault(row["letter_type"], {})[row["locale"]] = row
    return render_template(
        "staff/letters.html",
        by_type=by_type,
        names=translated(LETTER_NAMES),
        audiences=translated(AUDIENCES),
        locales=LOCALES,
    )


@staff_letters.route("/<letter_type>/<locale>", methods=["GET", "POST"])
@requires(Action.MANAGE_LETTERS)
def edit(letter_type, locale):
    _known(letter_type, locale)
    errors: dict[str, list[str]] = {}
    status = 200
    with rpc() as services:
        if request.method == "POST":
            try:
                if request.form.get("action") == "reset":
                    services.letters.reset_template(
                        actor=g.actor, letter_type=letter_type, locale=locale
                    )
                    flash(_("Back to the default wording."), "success")
                else:
                    saved = services.letters.save_template(
                        actor=g.actor,
                        letter_type=letter_type,
                        locale=locale,
                        **{part: request.form.get(part, "") for part in LETTER_PARTS},
                    )
                    flash(_("Saved as version %(version)d.", version=saved["version"]), "success")
            except InvalidInput as err:
                errors, status = err.fields, 422
            else:
                return redirect(
                    url_for("staff_letters.edit", letter_type=letter_type, locale=locale)
                )
        template = services.letters.get_template(
            actor=g.actor, letter_type=letter_type, locale=locale
        )
    if errors:  # show what the manager wrote, with the problem next to it
        template.update({part: request.form.get(part, "") for part in LETTER_PARTS})
    return render_template(
        "staff/letter_edit.html",
        template=template,
        errors=errors,
        names=translated(LETTER_NAMES),
        locales=LOCALES,
        sample_deposit=request.args.get("deposit", ""),
    ), status


@staff_letters.post("/<letter_type>/<locale>/preview")
@requires(Action.MANAGE_LETTERS)
def preview(letter_type, locale):
    """The unsaved parts rendered against a real deposit (by id) or the sample one; JSON."""
    _known(letter_type, locale)
    body = request.get_json(silent=True) or {}
    deposit_id = (body.get("deposit_id") or "").strip()
    with rpc() as services:
        deposit = None
        if deposit_id:
            try:
                deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
            except NotFound:
                raise InvalidInput(
                    _("There is no deposit with that ID."),
                    fields={"deposit_id": [_("There is no deposit with that ID.")]},
                ) from None
        letter = services.letters.preview_template(
            actor=g.actor,
            letter_type=letter_type,
            locale=locale,
            deposit=deposit,
            **{part: str(body.get(part) or "") for part in LETTER_PARTS},
        )
    return jsonify(letter)


@staff_letters.route("/preferences", methods=["GET", "POST"])
@requires(Action.SEE_ALL_DEPOSITS)
def preferences():
    """My letters: each one at once, or one digest a day."""
    if request.method == "POST":
        delivery = request.form.get("delivery")
        if delivery not in ("immediate", "digest"):
            abort(400, description=_("Choose immediate letters or a daily digest."))
        with rpc() as services:
            services.letters.save_recipient(actor=g.actor, delivery=delivery)
        flash(_("Your choice is saved."), "success")
        return redirect(url_for("staff_letters.preferences"))
    with rpc() as services:
        person = services.letters.save_recipient(actor=g.actor, delivery=None)
    return render_template("staff/letter_preferences.html", person=person)
