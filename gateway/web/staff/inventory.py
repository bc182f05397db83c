"""Staff pages for the repository's contents: collections (managers) and fixity (staff).

Every change goes through inventory's RPCs, which check the role again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from gateway.api.inventory import delete_collection_unless_targeted
from gateway.auth.guard import may, requires
from gateway.rpc import rpc
from gateway.web.public import collection_tree
from kernel.contracts.exceptions import Conflict, InvalidInput, NotFound
from kernel.policy.permissions import Action

staff_inventory = Blueprint("staff_inventory", __name__, url_prefix="/staff")


def fixity_alert():
    """`fixity_alerts()` in templates: failing files, asked only when a page shows it."""

    def fixity_alerts() -> int:
        if not may(Action.SEE_ALL_DEPOSITS):
            return 0
        if "fixity_alerts" not in g:

            def ask() -> int:
                with rpc() as services:
                    return services.inventory.fixity_failures(actor=g.actor)

            g.fixity_alerts = _badge_count(ask)
        return g.fixity_alerts

    return {"fixity_alerts": fixity_alerts}


@contextlib.contextmanager
def fixity_alerts_asked(services) -> Iterator[None]:
    """The menu's fixity count asked beside a page's own questions and kept for
    `fixity_alerts()`: the page waits for its slowest answer, not for one more call after."""
    reply = (
        services.inventory.fixity_failures.call_async(actor=g.actor)
        if may(Action.SEE_ALL_DEPOSITS) and "fixity_alerts" not in g
        else None
    )
    yield
    if reply is not None:
        g.fixity_alerts = _badge_count(reply.result)


def _badge_count(ask: Callable[[], int]) -> int:
    try:
        return ask()
    except Exception:  # a badge in the menu must never break a page
        current_app.logger.warning("no fixity count for the menu", exc_info=True)
        return 0


def register(app) -> None:
    """The menu's fixity badge is on every page."""
    app.context_processor(fixity_alert)


def _form_values() -> dict:
    return {
        "collection_id": request.form.get("id", "").strip(),
        "name": request.form.get("name", "").strip(),
        "description": request.form.get("description", "").strip(),
        "parent_id": request.form.get("parent_id") or None,
    }


@staff_inventory.route("/collections", methods=["GET", "POST"])
@requires(Action.MANAGE_COLLECTIONS)
def collections():
    """The tree, and a form for a new collection."""
    errors, values, status = {}, {"parent_id": request.args.get("parent")}, 200
    with rpc() as services:
        if request.method == "POST":
            values = _form_values()
            try:
                services.inventory.save_collection(actor=g.actor, create=True, **values)
            except (InvalidInput, Conflict) as err:
                errors, status = err.fields, 409 if isinstance(err, Conflict) else 422
                if "collection_id" in errors:
                    errors["id"] = errors.pop("collection_id")
                flash(
                    _("The collection was not created: see the messages by the fields.")
                    if errors
                    else err.message,
                    "error",
                )
            else:
                flash(_("Collection “%(name)s” created.", name=values["name"]), "success")
                return redirect(url_for("staff_inventory.collections"))
        tree = collection_tree(services)
    return render_template(
        "staff/collections.html", tree=tree, values=values, errors=errors
    ), status


@staff_inventory.route("/collections/<collection_id>", methods=["GET", "POST"])
@requires(Action.MANAGE_COLLECTIONS)
def edit_collection(collection_id):
    errors, status = {}, 200
    with rpc() as services:
        try:
            current = services.inventory.get_collection(collection_id=collection_id)
        except NotFound:
            abort(404)
        values = {
            "name": current["name"],
            "description": current["description"],
            "parent_id": current["parent_id"],
        }
        if request.method == "POST":
            values = {**_form_values(), "collection_id": collection_id}
            try:
                services.inventory.save_collection(actor=g.actor, create=False, **values)
            except (InvalidInput, Conflict) as err:
                errors, status = err.fields, 422
                flash(
                    _("The collection was not saved: see the messages by the fields.")
                    if errors
                    else err.message,
                    "error",
                )
            else:
                flash(_("Saved."), "success")
                return redirect(url_for("staff_inventory.collections"))
        tree = collection_tree(services)
    # a collection cannot move below itself: those choices are not offered
    below = current["set_spec"] + ":"
    parents = [
        c for c in tree if c["id"] != collection_id and not (c["set_spec"] or "").startswith(below)
    ]
    return render_template(
        "staff/collection_edit.html",
        collection=current,
        values=values,
        parents=parents,
        errors=errors,
    ), status


@staff_inventory.post("/collections/<collection_id>/delete")
@requires(Action.MANAGE_COLLECTIONS)
def delete_collection(collection_id):
    with rpc() as services:
        try:
            delete_collection_unless_targeted(services, g.actor, collection_id)
        except Conflict as err:
            flash(err.message, "error")
            return redirect(url_for("staff_inventory.edit_collection", collection_id=collection_id))
    flash(_("Collection deleted."), "success")
    return redirect(url_for("staff_inventory.collections"))


@staff_inventory.post("/items/<item_id>/doi")
@requires(Action.MANAGE_DOIS)
def retry_doi(item_id):
    """A manager sends one of the item's DOIs to DataCite again (after a failure)."""
    doi = request.form.get("doi", "")
    with rpc() as services:
        try:
            known = services.inventory.doi_registrations(actor=g.actor, item_id=item_id)
        except NotFound:
            abort(404)
        if doi not in {row["doi"] for row in known}:
            abort(404)
        services.inventory.retry_doi(actor=g.actor, doi=doi)
    flash(
        _("DOI %(doi)s goes to DataCite again; its state changes in a moment.", doi=doi), "success"
    )
    return redirect(url_for("public.item", item_id=item_id) + "#dois-heading")


@staff_inventory.get("/fixity")
@requires(Action.SEE_ALL_DEPOSITS)
def fixity():
    with rpc() as services:
        report = services.inventory.fixity_report(actor=g.actor)
    return render_template("staff/fixity.html", report=report)


@staff_inventory.post("/fixity/audit")
@requires(Action.SEE_ALL_DEPOSITS)
def run_audit():
    with rpc() as services:
        try:
            outcome = services.inventory.run_fixity_audit(actor=g.actor)
        except Conflict as err:  # one is running: the page, with why nothing started
            flash(err.message, "error")
            return render_template(
                "staff/fixity.html", report=services.inventory.fixity_report(actor=g.actor)
            ), 409
    flash(
        _("Checked %(checked)d files; %(failed)d failed.", **outcome),
        "error" if outcome["failed"] else "success",
    )
    return redirect(url_for("staff_inventory.fixity"))


@staff_inventory.post("/items/<item_id>/bag")
@requires(Action.EXPORT_BAGS)
def request_bag_export(item_id):
    """A manager asks for the item's preservation export; the bag export makes it."""
    with rpc() as services:
        services.inventory.request_bag_export(actor=g.actor, item_id=item_id)
    flash(_("The item will be exported as a bag at the next run of the bag export."), "success")
    return redirect(url_for("public.item", item_id=item_id))
