"""Staff pages: deposit profiles, for repository managers.

The list shows every profile, inactive ones too; the editor creates a profile or adds a
version to one. Everything is saved through intake's RPCs, which check the role again.
"""
from __future__ import annotations

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
from sqlalchemy import select

from gateway.auth.guard import requires
from gateway.forms.profile import (
    N_,
    NEW_PROFILE,
    ROW,
    ProfileFormError,
    blank_row,
    definition_to_form,
    error_order,
    form_errors,
    form_to_definition,
    form_values,
)
from gateway.models import User
from gateway.rpc import rpc
from kernel.contracts.exceptions import Conflict, InvalidInput, NotFound
from kernel.contracts.profiles import ACCESS_POLICIES, DC_ELEMENTS, FIELD_TYPES
from kernel.contracts.resource_types import RESOURCE_TYPES
from kernel.policy.permissions import Action

staff_profiles = Blueprint("staff_profiles", __name__, url_prefix="/staff")


# --- words the pages show ---------------------------------------------------------------

def field_type_names() -> dict[str, str]:
    names = {
        "text": _("Short text"), "long_text": _("Long text"), "date": _("Date"),
        "url": _("Web address (URL)"), "language": _("Language"),
        "choice": _("Choice from a list"), "person": _("Person"), "keywords": _("Keywords"),
        "licence": _("Licence"),
    }
    return {key: names.get(key, key) for key in FIELD_TYPES}


def access_names() -> dict[str, str]:
    names = {"open": _("Open access"), "campus": _("Campus only"),
             "embargo": _("Embargo, open after a date the depositor chooses")}
    return {key: names.get(key, key) for key in ACCESS_POLICIES}


def approval_names() -> dict[str, str]:
    return {"automatic": _("Automatic"), "manual": _("Manual")}


def input_labels() -> dict[str, str]:
    """What the error summary calls each input."""
    return {
        "_form": _("Profile"), "id": _("Profile ID"), "name": _("Name"),
        "description": _("Description"), "instructions": _("Instructions for depositors"),
        "active": _("Active"), "allowed_groups": _("Allowed groups"),
        "fields": _("Metadata form"), "min_files": _("Minimum number of files"),
        "max_files": _("Maximum number of files"),
        "max_file_size_mb": _("Largest file (MB)"), "max_total_size_mb": _("Largest total (MB)"),
        "allowed_extensions": _("Allowed file extensions"),
        "allowed_media_types": _("Allowed media types"),
        "metadata_only_allowed": _("Allow deposits without files"),
        "virus_scan": _("Require a virus scan"), "approval_mode": _("Approval"),
        "approver_groups": _("Approver groups"), "turnaround_days": _("Decision within (days)"),
        "target_collection": _("Collection"), "resource_type": _("Resource type"),
        "access": _("Access policy"), "embargo_max_months": _("Longest embargo (months)"),
        "terms": _("Terms"),
    }


def row_labels() -> dict[str, str]:
    return {"key": _("Key"), "label": _("Label"), "help": _("Help text"), "type": _("Type"),
            "required": _("Required"), "repeatable": _("Repeatable"),
            "max_values": _("Max. values"), "dc": _("Dublin Core element"),
            "vocabulary": _("Values to choose from")}


def error_summary(errors: dict[str, list[str]]) -> list[dict]:
    """One entry per message, in page order, each linking to its input."""
    labels, rows = input_labels(), row_labels()
    entries = []
    for name in sorted(errors, key=error_order):
        match = ROW.match(name)
        if match:
            label = _("Field %(number)d, %(attribute)s", number=int(match.group(1)) + 1,
                      attribute=rows.get(match.group(2), match.group(2)))
        else:
            label = labels.get(name, name)
        anchor = {"_form": None, "fields": "fields-section",
                  "approval_mode": "approval_mode-automatic"}.get(name, name)
        for message in errors[name]:
            entries.append({"label": label, "message": message, "anchor": anchor})
    return entries


def translated(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Messages in the reader's language where the catalogue has them."""
    return {name: [_(message) for message in messages] for name, messages in errors.items()}


def people(ids) -> dict[str, str]:
    """Names for the user ids in the version history; the seed is 'system'."""
    ids = {i for i in ids if i}
    names = {"system": _("Lodge (initial setup)")}
    wanted = ids - set(names)
    if wanted:
        with current_app.extensions["lodge.database"].reading() as session:
            for user in session.scalars(select(User).where(User.id.in_(wanted))):
                names[user.id] = user.name or user.username
    return names


# --- pages ------------------------------------------------------------------------------

@staff_profiles.get("/profiles")
@requires(Action.MANAGE_PROFILES)
def profiles():
    with rpc() as services:
        items = services.intake.list_profiles(actor=g.actor, include_inactive=True)
        collections = services.inventory.list_collections()
    items = sorted(items, key=lambda p: (not p["active"], p["name"].casefold()))
    return render_template("staff/profiles.html", profiles=items,
                           collections={c["id"]: c["name"] for c in collections},
                           approval_names=approval_names())


@staff_profiles.route("/profiles/new", methods=["GET", "POST"])
@requires(Action.MANAGE_PROFILES)
def new_profile():
    return _editor(None)


@staff_profiles.route("/profiles/<profile_id>", methods=["GET", "POST"])
@requires(Action.MANAGE_PROFILES)
def edit_profile(profile_id):
    return _editor(profile_id)


def _editor(profile_id: str | None):
    creating = profile_id is None
    errors: dict[str, list[str]] = {}
    problem = None
    status = 200
    current, versions, shown_version = None, [], None
    with rpc() as services:
        collections = services.inventory.list_collections()
        if not creating:
            try:
                current = services.intake.get_profile(actor=g.actor, profile_id=profile_id,
                                                      version=None)
                versions = services.intake.profile_versions(actor=g.actor,
                                                            profile_id=profile_id)
            except NotFound:
                abort(404, description=_("There is no such profile."))

        if request.method == "POST":
            values = form_values(request.form)
            try:
                new_id, definition = form_to_definition(request.form)
                if creating and new_id is None:
                    raise ProfileFormError({"id": [N_("Enter an ID for the profile.")]}, values)
                saved = services.intake.save_profile(
                    actor=g.actor, profile_id=new_id if creating else profile_id,
                    definition=definition, create=creating)
            except ProfileFormError as err:
                errors, problem, status = err.fields, err.message, 422
            except (InvalidInput, Conflict) as err:
                errors, problem = form_errors(err.fields), err.message
                status = 409 if isinstance(err, Conflict) else 422
            else:
                flash(_("Saved as version %(version)d.", version=saved["version"]), "success")
                return redirect(url_for("staff_profiles.edit_profile", profile_id=saved["id"]))
        else:
            shown = current or NEW_PROFILE
            wanted = request.args.get("version", type=int)
            if current is not None and wanted and wanted != current["version"]:
                if wanted not in {v["version"] for v in versions}:
                    abort(404, description=_("That profile has no such version."))
                shown = services.intake.get_profile(actor=g.actor, profile_id=profile_id,
                                                    version=wanted)
                shown_version = wanted
            values = definition_to_form(shown)

    if creating and not values["target_collection"] and collections:
        values["target_collection"] = collections[0]["id"]
    values["fields"] = list(values["fields"]) + [blank_row()]
    known = {c["id"] for c in collections}
    if values["target_collection"] and values["target_collection"] not in known:
        collections = collections + [{"id": values["target_collection"],
                                      "name": values["target_collection"]}]
    errors = translated(errors)
    return render_template(
        "staff/profile_edit.html", creating=creating, profile_id=profile_id, current=current,
        values=values, errors=errors, problem=_(problem) if problem else None,
        summary=error_summary(errors), versions=versions,
        authors=people(v["created_by"] for v in versions), shown_version=shown_version,
        collection_options=[(c["id"], c["name"]) for c in collections],
        field_types=field_type_names(),
        dc_options=[("", _("(none)"))] + [(element, f"dc:{element}") for element in DC_ELEMENTS],
        access_names=access_names(), approval_names=approval_names(),
        resource_type_options=[(kind.key, kind.heading) for kind in RESOURCE_TYPES.values()],
        blank=blank_row(),
    ), status
