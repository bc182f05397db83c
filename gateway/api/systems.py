"""REST API for managers: the campus systems registered to deposit for patrons, and their
API tokens. What is checked and stored is `gateway/campus/registry.py`; this is its HTTP."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, url_for
from marshmallow import fields

from gateway.api.arguments import json_object
from gateway.api.spec import operation, path_param
from gateway.auth.guard import requires
from gateway.campus import registry
from gateway.models import User
from gateway.rpc import rpc
from kernel.contracts.campus import MODES
from kernel.contracts.fields import DateTime, Lenient, Strict
from kernel.platform.config import get_settings
from kernel.policy.permissions import Action

systems_api = Blueprint("systems_api", __name__, url_prefix="/api/v1/staff/systems")


class TokenView(Strict):
    id = fields.Str()
    name = fields.Str()
    prefix = fields.Str()
    scopes = fields.List(fields.Str())
    created_at = DateTime()
    last_used_at = DateTime(allow_none=True)
    expires_at = DateTime()


class NewTokenView(TokenView):
    token = fields.Str(metadata={"description": "the token itself, shown this once"})


class SystemView(Strict):
    id = fields.Str()
    name = fields.Str()
    label = fields.Str()
    account = fields.Str(metadata={"description": "the username of the system's own account"})
    profiles = fields.List(fields.Nested(registry.ProfileModeSchema))
    allowed_hosts = fields.List(fields.Str())
    sends_people = fields.Bool()
    broker_user = fields.Str(
        metadata={"description": "created on the broker by `lodge broker-users --apply`"}
    )
    created_at = DateTime()
    active = fields.Bool()
    deactivated_at = DateTime(allow_none=True)
    tokens = fields.List(fields.Nested(TokenView))
    webhook_secret_at = DateTime(
        allow_none=True, metadata={"description": "when its webhook secret was made, if it has one"}
    )


class WebhookSecretView(Strict):
    secret = fields.Str(metadata={"description": "shown this once; it replaces the one before"})


class SystemPageView(Lenient):
    items = fields.List(fields.Nested(SystemView))


def _database():
    return current_app.extensions["lodge.database"]


def known_profiles() -> set[str]:
    """The profiles there are, every one, active or not (intake's)."""
    with rpc() as services:
        profiles = services.intake.list_profiles(actor=g.actor, include_inactive=True)
    return {profile["id"] for profile in profiles}


@systems_api.get("")
@requires(Action.MANAGE_SYSTEMS)
def list_systems():
    with _database().reading() as session:
        return jsonify(items=SystemView(many=True).dump(registry.list_systems(session)))


@systems_api.post("")
@requires(Action.MANAGE_SYSTEMS)
def create_system():
    body = json_object()
    with _database().unit_of_work() as uow:
        system = registry.create_system(uow.session, body, known_profiles, created_by=g.actor.id)
    response = jsonify(SystemView().dump(system))
    response.status_code = 201
    response.headers["Location"] = url_for("systems_api.get_system", system_id=system["id"])
    return response


@systems_api.get("/<system_id>")
@requires(Action.MANAGE_SYSTEMS)
def get_system(system_id):
    with _database().reading() as session:
        return jsonify(SystemView().dump(registry.get_system(session, system_id)))


@systems_api.patch("/<system_id>")
@requires(Action.MANAGE_SYSTEMS)
def change_system(system_id):
    body = json_object()
    with _database().unit_of_work() as uow:
        system = registry.update_system(uow.session, system_id, body, known_profiles)
    return jsonify(SystemView().dump(system))


@systems_api.post("/<system_id>/tokens")
@requires(Action.MANAGE_SYSTEMS)
def issue_token(system_id):
    body = json_object()
    with _database().unit_of_work() as uow:
        token = registry.issue_token(
            uow.session,
            system_id,
            body,
            max_days=get_settings().sign_in.token_max_days,
            created_by=uow.session.get_one(User, g.actor.id),
        )
    response = jsonify(NewTokenView().dump(token))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@systems_api.post("/<system_id>/webhook-secret")
@requires(Action.MANAGE_SYSTEMS)
def new_webhook_secret(system_id):
    with _database().unit_of_work() as uow:
        secret = registry.new_webhook_secret(uow.session, system_id)
    response = jsonify(WebhookSecretView().dump({"secret": secret}))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@systems_api.delete("/<system_id>/tokens/<token_id>")
@requires(Action.MANAGE_SYSTEMS)
def revoke_token(system_id, token_id):
    with _database().unit_of_work() as uow:
        registry.revoke_token(uow.session, system_id, token_id)
    return "", 204


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    spec.components.schema("CampusSystemToken", schema=TokenView)
    spec.components.schema("NewCampusSystemToken", schema=NewTokenView)
    spec.components.schema("CampusSystem", schema=SystemView)
    spec.components.schema("CampusSystemPage", schema=SystemPageView)
    spec.components.schema("NewCampusSystem", schema=registry.SystemSchema)
    spec.components.schema("CampusSystemChange", schema=registry.SystemChangeSchema)
    spec.components.schema("NewCampusSystemTokenRequest", schema=registry.TokenSchema)
    spec.components.schema("CampusSystemWebhookSecret", schema=WebhookSecretView)
    modes = ", ".join(MODES)
    one = [path_param("system_id")]
    spec.path(
        "/api/v1/staff/systems",
        operations={
            "get": operation(
                "The registered campus systems, active ones first (managers)",
                "#/components/schemas/CampusSystemPage",
                errors=("401", "403"),
                operation_id="listCampusSystems",
            ),
            "post": operation(
                "Register a campus system (managers): its name (for good: its routing keys, "
                "queues and account `system-<name>` follow it), the profiles it may use with a "
                f"mode each ({modes}), the hosts its files may be fetched from, whether it "
                "sends person events, and its broker user (default `campus-<name>`, created "
                "by `lodge broker-users --apply`)",
                "#/components/schemas/CampusSystem",
                status="201",
                body="#/components/schemas/NewCampusSystem",
                errors=("401", "403", "409", "422"),
                operation_id="registerCampusSystem",
            ),
        },
    )
    spec.path(
        "/api/v1/staff/systems/{system_id}",
        operations={
            "get": operation(
                "A campus system with its live tokens (managers)",
                "#/components/schemas/CampusSystem",
                params=one,
                errors=("401", "403", "404"),
                operation_id="getCampusSystem",
            ),
            "patch": operation(
                "Change a campus system (managers); `active: false` deactivates it at once: "
                "its tokens are revoked and its requests refused",
                "#/components/schemas/CampusSystem",
                body="#/components/schemas/CampusSystemChange",
                params=one,
                errors=("401", "403", "404", "409", "422"),
                operation_id="changeCampusSystem",
            ),
        },
    )
    spec.path(
        "/api/v1/staff/systems/{system_id}/tokens",
        operations={
            "post": operation(
                "A new API token of the system's account, scope `deposit` (managers); the "
                "token is in this answer only",
                "#/components/schemas/NewCampusSystemToken",
                status="201",
                body="#/components/schemas/NewCampusSystemTokenRequest",
                params=one,
                errors=("401", "403", "404", "409", "422"),
                operation_id="issueCampusSystemToken",
            )
        },
    )
    spec.path(
        "/api/v1/staff/systems/{system_id}/webhook-secret",
        operations={
            "post": operation(
                "A new secret the system signs webhook requests with (managers); it replaces "
                "the one before at once and is in this answer only",
                "#/components/schemas/CampusSystemWebhookSecret",
                status="201",
                params=one,
                errors=("401", "403", "404", "409"),
                operation_id="newCampusSystemWebhookSecret",
            )
        },
    )
    spec.path(
        "/api/v1/staff/systems/{system_id}/tokens/{token_id}",
        operations={
            "delete": operation(
                "Revoke one of the system's tokens (managers)",
                None,
                status="204",
                params=[*one, path_param("token_id")],
                errors=("401", "403", "404"),
                operation_id="revokeCampusSystemToken",
            )
        },
    )
