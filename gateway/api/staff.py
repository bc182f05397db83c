"""REST API for staff: find a patron, every deposit, the dashboard's figures; for admins,
deactivating an account."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify
from marshmallow import fields, validate

from gateway.api.arguments import json_body, query_args
from gateway.api.spec import operation, query
from gateway.auth.guard import requires
from gateway.auth.patrons import MAX_QUERY, MAX_RESULTS, find_people, person_view
from gateway.rpc import rpc
from gateway.web.account import set_active
from kernel.contracts.deposits import STATUSES, DepositStatisticsView
from kernel.contracts.fields import Strict
from kernel.policy.permissions import Action

staff_api = Blueprint("staff_api", __name__, url_prefix="/api/v1/staff")


class PatronQuery(Strict):
    q = fields.Str(required=True, validate=validate.Length(min=1, max=MAX_QUERY))
    limit = fields.Int(load_default=10, validate=validate.Range(min=1, max=MAX_RESULTS))


class AllDepositsQuery(Strict):
    status = fields.Str(load_default=None, validate=validate.OneOf(STATUSES))
    profile = fields.Str(load_default=None)
    q = fields.Str(load_default=None, validate=validate.Length(max=MAX_QUERY))
    depositor = fields.Str(load_default=None)
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


class StatisticsQuery(Strict):
    weeks = fields.Int(load_default=12, validate=validate.Range(min=1, max=104))


class AccountStatusBody(Strict):
    active = fields.Bool(required=True)


class AccountView(Strict):
    id = fields.Str()
    username = fields.Str()
    name = fields.Str()
    email = fields.Str()
    roles = fields.List(fields.Str())
    active = fields.Bool()
    deactivated_at = fields.DateTime(allow_none=True)


def people_matching(words: str, limit: int = 10) -> list[dict]:
    with current_app.extensions["lodge.database"].reading() as session:
        return [person_view(user) for user in find_people(session, words, limit)]


def all_deposits(
    services, status=None, profile=None, q=None, depositor=None, page=1, per_page=25
) -> dict:
    """One page of every deposit; words match titles and depositors' names or e-mails."""
    words = (q or "").strip() or None
    depositor_ids = [p["id"] for p in people_matching(words, MAX_RESULTS)] if words else []
    return services.intake.search_deposits(
        actor=g.actor,
        status=status,
        profile_id=profile,
        title=words,
        depositor_ids=depositor_ids,
        depositor_id=depositor,
        page=page,
        per_page=per_page,
    )


@staff_api.get("/patrons")
@requires(Action.MEDIATE)
def patrons():
    args = query_args(PatronQuery)
    return jsonify(items=people_matching(args["q"], args["limit"]))


@staff_api.get("/deposits")
@requires(Action.SEE_ALL_DEPOSITS)
def deposits():
    args = query_args(AllDepositsQuery)
    with rpc() as services:
        return jsonify(all_deposits(services, **args))


@staff_api.get("/statistics")
@requires(Action.SEE_ALL_DEPOSITS)
def statistics():
    args = query_args(StatisticsQuery)
    with rpc() as services:
        return jsonify(services.intake.deposit_statistics(actor=g.actor, weeks=args["weeks"]))


@staff_api.patch("/accounts/<user_id>")
@requires(Action.MANAGE_ACCOUNTS)
def change_account(user_id):
    """Deactivate ({"active": false}) or reactivate an account; never the caller's own."""
    body = json_body(AccountStatusBody)
    return jsonify(AccountView().dump(set_active(user_id, body["active"])))


def describe(spec) -> None:
    """This module's schemas and paths in the OpenAPI document."""
    spec.components.schema("DepositStatistics", schema=DepositStatisticsView)
    spec.components.schema("AccountStatus", schema=AccountStatusBody)
    spec.components.schema("Account", schema=AccountView)
    spec.path(
        "/api/v1/staff/accounts/{user_id}",
        operations={
            "patch": operation(
                "Deactivate or reactivate an account (admins): "
                "a deactivated one's sessions end and "
                "its tokens are revoked at once, and it gets no staff letters",
                "#/components/schemas/Account",
                body="#/components/schemas/AccountStatus",
                params=[
                    {
                        "name": "user_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                errors=("401", "403", "404", "409", "422"),
                operation_id="changeAccount",
            )
        },
    )
    spec.path(
        "/api/v1/staff/patrons",
        operations={
            "get": operation(
                "Find people to deposit for, by name, e-mail, username or id (staff)",
                None,
                params=[query("q"), query("limit", "integer")],
                errors=("401", "403", "422"),
                operation_id="findPatrons",
            )
        },
    )
    spec.path(
        "/api/v1/staff/deposits",
        operations={
            "get": operation(
                "Every deposit, newest change first; q matches titles and depositors' names or "
                "e-mail addresses (approvers, staff, managers)",
                "#/components/schemas/DepositPage",
                params=[
                    query("status", enum=STATUSES),
                    query("profile"),
                    query("q"),
                    query("depositor"),
                    query("page", "integer"),
                    query("per_page", "integer"),
                ],
                errors=("401", "403", "422"),
                operation_id="allDeposits",
            )
        },
    )
    spec.path(
        "/api/v1/staff/statistics",
        operations={
            "get": operation(
                "Deposits by status, submissions and decisions per week, median time to decision "
                "per profile, deposits made on patrons' behalf "
                "with who made them (approvers, staff, "
                "managers)",
                "#/components/schemas/DepositStatistics",
                params=[query("weeks", "integer")],
                errors=("401", "403", "422"),
                operation_id="depositStatistics",
            )
        },
    )
