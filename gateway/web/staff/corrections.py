"""The managers' page for correcting an archived item's metadata, with its history.

Inventory checks the permission again, keeps the history and tells harvesters and campus
systems."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gateway.auth.guard import requires
from gateway.presenters import versions
from gateway.rpc import rpc
from kernel.contracts.exceptions import Conflict, InvalidInput
from kernel.policy import text
from kernel.policy.permissions import Action

staff_corrections = Blueprint("staff_corrections", __name__, url_prefix="/staff")


@staff_corrections.route("/items/<item_id>/correct", methods=["GET", "POST"])
@requires(Action.CORRECT_ITEMS)
def correct_item(item_id):
    errors, reason, status = {}, "", 200
    with rpc() as services:
        item = text.clean_tree(services.inventory.get_item(item_id=item_id))
        if item.get("withdrawn_at"):
            abort(409, description=_("A withdrawn item cannot be corrected."))
        form = versions.correction_form(item)
        if request.method == "POST":
            wanted, reason = (
                versions.correction_request(request.form),
                request.form.get("reason", ""),
            )
            try:
                services.inventory.correct_item(
                    actor=g.actor, item_id=item_id, reason=reason.strip(), **wanted
                )
            except (InvalidInput, Conflict) as err:
                errors = versions.field_messages(err.fields)
                status = 409 if isinstance(err, Conflict) else 422
                flash(err.message, "error")
                form = versions.correction_form({**item, **wanted})
            else:
                flash(
                    _("The correction is saved; harvesters will fetch the item again."), "success"
                )
                return redirect(url_for("public.item", item_id=item_id))
        history = services.inventory.item_corrections(actor=g.actor, item_id=item_id)
    return render_template(
        "staff/correct_item.html",
        item=item,
        form=form,
        errors=errors,
        reason=reason,
        history=history,
    ), status
