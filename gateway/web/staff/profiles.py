"""Staff pages: deposit profiles, for repository managers.

The list shows every profile, inactive ones too; the editor creates a profile or adds a
version to one. Everything is saved through intake's RPCs, which check the role again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from werkzeug.wrappers import Response

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
        "text": _("Short text"),
        "long_text": _("Long text"),
        "date": _("Date"),
        "url": _("Web address (URL)"),
        "language": _("Language"),
        "choice": _("Choice from a list"),
        "person": _("Person"),
        "keywords": _("Keywords"),
        "licence": _("Licence"),
    }
    return {key: names.get(key, key) for key in FIELD_TYPES}


def access_names() -> dict[str, str]:
    names = {
        "open": _("Open access"),
        "campus": _("Campus only"),
        "embargo": _("Embargo, open after a date the depositor chooses"),
    }
    return {key: names.get(key, key) for key in ACCESS_POLICIES}


def approval_names() -> dict[str, str]:
    return {"automatic": _("Automatic"), "manual": _("Manual")}


def input_labels() -> dict[str, str]:
    """What the error summary calls each input."""
    return {
        "_form": _("Profile"),
        "id": _("Profile ID"),
        "name": _("Name"),
        "description": _("Description"),
        "instructions": _("Instructions for depositors"),
        "active": _("Active"),
        "allowed_groups": _("Allowed groups"),
        "fields": _("Metadata form"),
        "min_files": _("Minimum number of files"),
        "max_files": _("Maximum number of files"),
        "max_file_size_mb": _("Largest file (MB)"),
        "max_total_size_mb": _("Largest total (MB)"),
        "allowed_extensions": _("Allowed file extensions"),
        "allowed_media_types": _("Allowed media types"),
        "metadata_only_allowed": _("Allow deposits without files"),
        "virus_scan": _("Require a virus scan"),
        "approval_mode": _("Approval"),
        "approver_groups": _("Approver groups"),
        "turnaround_days": _("Decision within (days)"),
        "target_collection": _("Collection"),
        "resource_type": _("Resource type"),
        "access": _("Access policy"),
        "embargo_max_months": _("Longest embargo (months)"),
        "terms": _("Terms"),
    }


def row_labels() -> dict[str, str]:
    return {
        "key": _("Key"),
        "label": _("Label"),
        "help": _("Help text"),
        "type": _("Type"),
        "required": _("Required"),
        "repeatable": _("Repeatable"),
        "max_values": _("Max. values"),
        "dc": _("Dublin Core element"),
        "vocabulary": _("Values to choose from"),
    }


def error_summary(errors: dict[str, list[str]]) -> list[dict]:
    """One entry per message, in page order, each linking to its input."""
    labels, rows = input_labels(), row_labels()
    entries = []
    for name in sorted(errors, key=error_order):
        match = ROW.match(name)
        if match:
            label = _(
                "Field %(number)d, %(attribute)s",
                number=int(match.group(1)) + 1,
                attribute=rows.get(match.group(2), match.group(2)),
            )
        else:
            label = labels.get(name, name)
        anchor = {
            "_form": None,
            "fields": "fields-section",
            "approval_mode": "approval_mode-automatic",
        }.get(name, name)
        for message in errors[name]:
            entries.append({"label": label, "message": message, "anchor": anchor})
    return entries


def collection_options(collections: list[dict], chosen: str) -> list[tuple[str, str]]:
    """(id, name) of each collection, and the chosen one even when it is no longer listed."""
    options = [(c["id"], c["name"]) for c in collections]
    if chosen and chosen not in {c["id"] for c in collections}:
        options.append((chosen, chosen))
    return options


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
    return render_template(
        "staff/profiles.html",
        profiles=items,
        collections={c["id"]: c["name"] for c in collections},
        approval_names=approval_names(),
    )


@staff_profiles.route("/profiles/new", methods=["GET", "POST"])
@requires(Action.MANAGE_PROFILES)
def new_profile():
    return _editor(None)


@staff_profiles.route("/profiles/<profile_id>", methods=["GET", "POST"])
@requires(Action.MANAGE_PROFILES)
def edit_profile(profile_id):
    return _editor(profile_id)


def _editor(profile_id: str | None):
    """A new profile's editor (no `profile_id`) or an existing one's: shown, or saved."""
    with rpc() as services:
        collections = services.inventory.list_collections()
        current, versions = _stored(services, profile_id)
        if request.method == "POST":
            shown = _save(services, profile_id)
            if not isinstance(shown, _Shown):
                return shown  # saved: on to the page of the saved version
        else:
            shown = _show(services, profile_id, current, versions)
    return _render(profile_id, current, versions, collections, shown)


@dataclass
class _Shown:
    """What the form shows: its values, and what went wrong when it was saved."""

    values: dict
    version: int | None = None  # an older version, asked for with ?version=
    errors: dict[str, list[str]] = field(default_factory=dict)
    problem: str | None = None
    status: int = 200


def _stored(services, profile_id: str | None) -> tuple[dict | None, list[dict]]:
    """The profile's current version and its history; neither for a new profile."""
    if profile_id is None:
        return None, []
    try:
        return (
            services.intake.get_profile(actor=g.actor, profile_id=profile_id, version=None),
            services.intake.profile_versions(actor=g.actor, profile_id=profile_id),
        )
    except NotFound:
        abort(404, description=_("There is no such profile."))


def _show(services, profile_id: str | None, current: dict | None, versions: list[dict]) -> _Shown:
    """GET: the current version, an older one, or a new profile's defaults."""
    wanted = request.args.get("version", type=int)
    if current is None or not wanted or wanted == current["version"]:
        return _Shown(definition_to_form(current or NEW_PROFILE))
    if wanted not in {v["version"] for v in versions}:
        abort(404, description=_("That profile has no such version."))
    older = services.intake.get_profile(actor=g.actor, profile_id=profile_id, version=wanted)
    return _Shown(definition_to_form(older), version=wanted)


def _save(services, profile_id: str | None) -> _Shown | Response:
    """POST: the form parsed and saved, then a redirect to it; or the form again, with the
    problems on their inputs."""
    creating = profile_id is None
    values = form_values(request.form)
    try:
        new_id, definition = form_to_definition(request.form)
        if creating and new_id is None:
            raise ProfileFormError({"id": [N_("Enter an ID for the profile.")]}, values)
        saved = services.intake.save_profile(
            actor=g.actor,
            profile_id=new_id if creating else profile_id,
            definition=definition,
            create=creating,
        )
    except ProfileFormError as err:
        return _Shown(values, errors=err.fields, problem=err.message, status=422)
    except (InvalidInput, Conflict) as err:
        return _Shown(
            values,
            errors=form_errors(err.fields),
            problem=err.message,
            status=409 if isinstance(err, Conflict) else 422,
        )
    flash(_("Saved as version %(version)d.", version=saved["version"]), "success")
    return redirect(url_for("staff_profiles.edit_profile", profile_id=saved["id"]))


def _render(
    profile_id: str | None,
    current: dict | None,
    versions: list[dict],
    collections: list[dict],
    shown: _Shown,
):
    """The editor page, with a spare blank row and the options of its lists."""
    creating = profile_id is None
    values = shown.values
    if creating and not values["target_collection"] and collections:
        values["target_collection"] = collections[0]["id"]
    values["fields"] = list(values["fields"]) + [blank_row()]
    errors = translated(shown.errors)
    return render_template(
        "staff/profile_edit.html",
        creating=creating,
        profile_id=profile_id,
        current=current,
        values=values,
        errors=errors,
        problem=_(shown.problem) if shown.problem else None,
        summary=error_summary(errors),
        versions=versions,
        authors=people(v["created_by"] for v in versions),
        shown_version=shown.version,
        collection_options=collection_options(collections, values["target_collection"]),
        field_types=field_type_names(),
        dc_options=[("", _("(none)"))] + [(element, f"dc:{element}") for element in DC_ELEMENTS],
        access_names=access_names(),
        approval_names=approval_names(),
        resource_type_options=[(kind.key, kind.heading) for kind in RESOURCE_TYPES.values()],
        blank=blank_row(),
    ), shown.status
