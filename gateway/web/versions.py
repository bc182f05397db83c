"""New versions of archived items from their landing pages: the button, and who sees it."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, url_for
from flask_babel import gettext as _

from gateway.auth import guard as auth
from gateway.rpc import rpc
from kernel.contracts.exceptions import Conflict, Forbidden, LodgeError, NotFound
from kernel.policy.permissions import Action, can, may_start_new_version

versions_pages = Blueprint("versions_pages", __name__)


def offers_new_version(services, item: dict) -> bool:
    """Whether the landing page offers "Start a new version": to staff, and to the item's
    depositor, whom only intake knows (a deposit the caller may not see is not theirs).
    Intake decides again when the button is pressed."""
    actor = g.get("actor")
    if actor is None or item.get("withdrawn_at"):
        return False
    if can(actor, Action.VERSION_ANY_ITEM):
        return True
    try:
        deposit = services.intake.get_deposit(actor=actor, deposit_id=item["deposit_id"])
    except NotFound:
        return False
    return may_start_new_version(actor, deposit["depositor"]["id"])


@versions_pages.post("/items/<item_id>/new-version")
@auth.login_required
def start_new_version(item_id):
    """Make the draft and open it in the deposit editor; a version already in progress is
    named, with a link."""
    try:
        with rpc() as services:
            deposit = services.intake.start_new_version(actor=g.actor, item_id=item_id)
    except (NotFound, Forbidden):
        raise
    except LodgeError as err:  # a version in progress, a withdrawn item, a full quota
        flash(err.message, "error")
        in_progress = err.fields.get("deposit_id") if isinstance(err, Conflict) else None
        if in_progress:  # the version already started, where its depositor can go on
            return redirect(url_for("portal.deposit", deposit_id=in_progress[0]))
        return redirect(url_for("public.item", item_id=item_id))
    flash(
        _(
            "A new version is started, with the metadata of this one. Change what is new and "
            "upload the files, then submit it."
        ),
        "success",
    )
    return redirect(url_for("portal.edit_deposit", deposit_id=deposit["id"]))
