"""REST API v1: deposit profiles, each a versioned form with file rules."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from gateway.api import schemas
from gateway.api.arguments import json_body, query_args
from gateway.api.spec import links, operation, path_param, query, ref
from gateway.auth.guard import login_required, requires
from gateway.rpc import rpc
from kernel.contracts.profiles import (
    ProfileDefinitionSchema,
    ProfileVersionView,
    ProfileView,
)
from kernel.policy.permissions import Action

profiles_api = Blueprint("profiles_api", __name__, url_prefix="/api/v1")


@profiles_api.get("/profiles")
@login_required
def list_profiles():
    args = query_args(schemas.ListProfilesQuery)
    with rpc() as services:
        return jsonify(
            items=services.intake.list_profiles(
                actor=g.actor, include_inactive=args["include_inactive"], mediated=args["mediated"]
            )
        )


@profiles_api.get("/profiles/<profile_id>")
@login_required
def get_profile(profile_id):
    args = query_args(schemas.ProfileQuery)
    with rpc() as services:
        return jsonify(
            services.intake.get_profile(
                actor=g.actor, profile_id=profile_id, version=args["version"]
            )
        )


@profiles_api.get("/profiles/<profile_id>/versions")
@requires(Action.MANAGE_PROFILES)
def profile_versions(profile_id):
    with rpc() as services:
        return jsonify(items=services.intake.profile_versions(actor=g.actor, profile_id=profile_id))


@profiles_api.post("/profiles")
@requires(Action.MANAGE_PROFILES)
def create_profile():
    body = json_body(schemas.CreateProfileBody)
    profile_id = body.pop("id")
    with rpc() as services:
        profile = services.intake.save_profile(
            actor=g.actor, profile_id=profile_id, definition=body, create=True
        )
    response = jsonify(profile)
    response.status_code = 201
    response.headers["Location"] = url_for("profiles_api.get_profile", profile_id=profile_id)
    return response


@profiles_api.put("/profiles/<profile_id>")
@requires(Action.MANAGE_PROFILES)
def update_profile(profile_id):
    """Editing a profile adds a version; deposits keep the version they were made under."""
    body = json_body(ProfileDefinitionSchema)
    with rpc() as services:
        return jsonify(
            services.intake.save_profile(
                actor=g.actor, profile_id=profile_id, definition=body, create=False
            )
        )


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    for name, schema in {
        "Profile": ProfileView,
        "CreateProfile": schemas.CreateProfileBody,
        "ProfileDefinition": ProfileDefinitionSchema,
        "ProfileVersion": ProfileVersionView,
    }.items():
        spec.components.schema(name, schema=schema)
    profile_id = path_param("profile_id")
    spec.path(
        "/api/v1/profiles",
        operations={
            "get": operation(
                "Profiles the caller may use, with form fields and file rules "
                "(staff: include_inactive=true for all; mediated=true for those the "
                "caller may deposit with on a patron's behalf)",
                None,
                params=[query("include_inactive", "boolean"), query("mediated", "boolean")],
                errors=("401", "422"),
                operation_id="listProfiles",
            ),
            "post": operation(
                "Create a profile (managers)",
                ref("Profile"),
                "201",
                ref("CreateProfile"),
                errors=("400", "401", "403", "409", "422"),
                operation_id="createProfile",
                links=links(
                    "$response.body#/id",
                    {
                        "getProfile": ("profile_id",),
                        "updateProfile": ("profile_id",),
                        "profileVersions": ("profile_id",),
                    },
                ),
            ),
        },
    )
    spec.path(
        "/api/v1/profiles/{profile_id}",
        operations={
            "get": operation(
                "One profile, its current or a given version",
                ref("Profile"),
                params=[profile_id, query("version", "integer")],
                errors=("401", "403", "404", "422"),
                operation_id="getProfile",
            ),
            "put": operation(
                "Edit a profile: adds a version; deposits keep theirs (managers)",
                ref("Profile"),
                body=ref("ProfileDefinition"),
                params=[profile_id],
                errors=("400", "401", "403", "404", "422"),
                operation_id="updateProfile",
            ),
        },
    )
    spec.path(
        "/api/v1/profiles/{profile_id}/versions",
        operations={
            "get": operation(
                "A profile's versions, newest first (managers)",
                None,
                params=[profile_id],
                errors=("401", "403", "404"),
                operation_id="profileVersions",
            )
        },
    )
