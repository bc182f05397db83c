"""REST API for admins: the messages each service could not handle (its dead letters),
to list, read, replay once the cause is fixed, or drop. Each service keeps its own and
checks the role again; a letter is named by its service and its id there."""

from __future__ import annotations

from flask import Blueprint, abort, g, jsonify
from flask_babel import gettext as _

from gateway.api.arguments import json_body, query_args
from gateway.api.spec import operation, path_param, query, ref
from gateway.auth.guard import requires
from gateway.rpc import rpc
from kernel.contracts.dead_letters import (
    STATES,
    DeadLetterCountsView,
    DeadLetterFilters,
    DeadLetterPageView,
    DeadLetterView,
)
from kernel.contracts.fields import Strict, Text
from kernel.platform.config import SERVICE_NAMES
from kernel.policy.permissions import Action

dead_letters_api = Blueprint("dead_letters_api", __name__, url_prefix="/api/v1/staff/dead-letters")


class DropBody(Strict):
    note = Text("reason", load_default="")


def desk_of(services, service: str):
    """The RPC proxy of `service`, whose dead letters these are."""
    if service not in SERVICE_NAMES:
        abort(404, description=_("There is no such service."))
    return getattr(services, service)


def counts(services) -> dict[str, dict]:
    return {
        service: desk_of(services, service).count_dead_letters(actor=g.actor)
        for service in SERVICE_NAMES
    }


def letters_of(services, service: str, filters: dict) -> dict:
    wire = DeadLetterFilters().dump(filters)
    return desk_of(services, service).list_dead_letters(actor=g.actor, **wire)


def show(services, service: str, letter_id: int) -> dict:
    return desk_of(services, service).get_dead_letter(actor=g.actor, letter_id=letter_id)


def replay(services, service: str, letter_id: int) -> dict:
    return desk_of(services, service).replay_dead_letter(actor=g.actor, letter_id=letter_id)


def drop(services, service: str, letter_id: int, note: str) -> dict:
    return desk_of(services, service).drop_dead_letter(
        actor=g.actor, letter_id=letter_id, note=note
    )


@dead_letters_api.get("")
@requires(Action.MANAGE_DEAD_LETTERS)
def summary():
    with rpc() as services:
        return jsonify(services=counts(services))


@dead_letters_api.get("/<service>")
@requires(Action.MANAGE_DEAD_LETTERS)
def listing(service):
    filters = query_args(DeadLetterFilters)
    with rpc() as services:
        return jsonify(letters_of(services, service, filters))


@dead_letters_api.get("/<service>/<int:letter_id>")
@requires(Action.MANAGE_DEAD_LETTERS)
def letter(service, letter_id):
    with rpc() as services:
        return jsonify(show(services, service, letter_id))


@dead_letters_api.post("/<service>/<int:letter_id>/replay")
@requires(Action.MANAGE_DEAD_LETTERS)
def replay_letter(service, letter_id):
    with rpc() as services:
        return jsonify(replay(services, service, letter_id))


@dead_letters_api.post("/<service>/<int:letter_id>/drop")
@requires(Action.MANAGE_DEAD_LETTERS)
def drop_letter(service, letter_id):
    body = json_body(DropBody)
    with rpc() as services:
        return jsonify(drop(services, service, letter_id, body["note"]))


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    spec.components.schema("DeadLetterCounts", schema=DeadLetterCountsView)
    spec.components.schema("DeadLetterPage", schema=DeadLetterPageView)
    spec.components.schema("DeadLetter", schema=DeadLetterView)
    spec.components.schema("DropDeadLetter", schema=DropBody)
    one = [path_param("service"), {**path_param("letter_id"), "schema": {"type": "integer"}}]
    spec.path(
        "/api/v1/staff/dead-letters",
        operations={
            "get": operation(
                "How many dead letters each service holds, by state (admins); the body is "
                '{"services": {"<service>": DeadLetterCounts}}',
                None,
                errors=("401", "403"),
                operation_id="deadLetterCounts",
            )
        },
    )
    spec.path(
        "/api/v1/staff/dead-letters/{service}",
        operations={
            "get": operation(
                "A service's dead letters, newest failure first, by state, words in the "
                "reason, original queue and failure time (admins)",
                ref("DeadLetterPage"),
                params=[
                    path_param("service"),
                    query("state", enum=STATES),
                    query("reason"),
                    query("queue"),
                    query("failed_before"),
                    query("failed_after"),
                    query("page", "integer"),
                    query("per_page", "integer"),
                ],
                errors=("401", "403", "404", "422"),
                operation_id="listDeadLetters",
            )
        },
    )
    spec.path(
        "/api/v1/staff/dead-letters/{service}/{letter_id}",
        operations={
            "get": operation(
                "One dead letter with its headers and payload: text when it is UTF-8, else "
                "base64, the first 256 KiB (admins)",
                ref("DeadLetter"),
                params=one,
                errors=("401", "403", "404", "422"),
                operation_id="getDeadLetter",
            )
        },
    )
    spec.path(
        "/api/v1/staff/dead-letters/{service}/{letter_id}/replay",
        operations={
            "post": operation(
                "Send a dead letter back to its handler, which applies it at most once "
                "(admins); a dropped one is a conflict",
                ref("DeadLetter"),
                params=one,
                errors=("401", "403", "404", "409"),
                operation_id="replayDeadLetter",
            )
        },
    )
    spec.path(
        "/api/v1/staff/dead-letters/{service}/{letter_id}/drop",
        operations={
            "post": operation(
                "Give up on a dead letter; it stays, marked dropped with who, when and the "
                "note (admins)",
                ref("DeadLetter"),
                body=ref("DropDeadLetter"),
                params=one,
                errors=("401", "403", "404", "409", "422"),
                operation_id="dropDeadLetter",
            )
        },
    )
