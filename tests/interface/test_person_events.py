"""Person events from the campus identity system applied on real RabbitMQ, PostgreSQL and
the approval and letters services: created and changed provision and recompute roles
through the claim mapping, left deactivates the account as an admin does (its token stops
working) and releases its review claims; a repeat changes nothing more."""

import json

import pytest
from nameko.standalone.rpc import ClusterRpcClient

from gateway.auth import identity
from gateway.auth.people_events import apply_person_event
from kernel.contracts.exceptions import InvalidInput
from kernel.platform.db import Database
from lodge.migrations import upgrade
from services.approval import review
from services.approval.service import ApprovalService
from services.letters.service import LettersService
from tests.services.test_approval import validated

ISSUER = "https://idp.campus.example"
PERSON = {"issuer": ISSUER, "subject": "person-7"}
LIBRARY = {"person": PERSON, "name": "Robin Reviewer", "email": "robin@campus.example"}


@pytest.fixture
def campus(container_factory, broker, migrated, lodge_env, postgres_database):
    """The gateway's database and app, approval and letters running, and an RPC client."""
    gateway_url = postgres_database("gateway")
    lodge_env.setenv("LODGE_GATEWAY_DATABASE_URL", gateway_url)
    lodge_env.setenv("LODGE_OIDC_ISSUER", ISSUER)
    lodge_env.setenv("LODGE_OIDC_CLIENT_ID", "lodge")
    lodge_env.setenv(
        "LODGE_OIDC_CLAIM_MAPPING",
        json.dumps({"group_claims": ["isMemberOf"], "roles": {"approvers": ["approver"]}}),
    )
    from kernel.platform.config import get_settings

    get_settings.cache_clear()
    upgrade("gateway", gateway_url)
    migrated("letters")
    with Database(migrated("approval"), "approval").unit_of_work() as uow:
        review.seed_reasons(uow.session)
        review.open_review(uow, "validated-left", validated(deposit_id="d-left"))
    container_factory(ApprovalService, broker).start()
    container_factory(LettersService, broker).start()
    from gateway.app import create_app

    app = create_app({"TESTING": True})
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=20) as rpc:
        yield app, app.extensions["lodge.database"], rpc
    app.extensions["lodge.database"].engine.dispose()


def _event(**attributes):
    return {**LIBRARY, "attributes": attributes}


def test_people_arrive_change_and_leave(campus):
    app, database, rpc = campus
    created = apply_person_event(database, rpc, "created", _event(isMemberOf="approvers"))
    assert created["outcome"] == "created"
    again = apply_person_event(database, rpc, "created", _event(isMemberOf="approvers"))
    assert again == {"account_id": created["account_id"], "outcome": "unchanged"}

    # their groups change: the roles follow through the same mapping as at sign-in
    changed = apply_person_event(database, rpc, "changed", _event(isMemberOf=[]))
    assert changed["outcome"] == "updated"
    with database.reading() as session:
        user = identity.find_external_user(session, ISSUER, "person-7")
        assert user.roles == ["patron"] and user.groups == []
    apply_person_event(database, rpc, "changed", _event(isMemberOf=["approvers"]))

    with database.unit_of_work() as uow:
        user = identity.find_external_user(uow.session, ISSUER, "person-7")
        assert user.roles == ["patron", "approver"] and user.groups == ["approvers"]
        user.signed_in_at = identity._now()  # claim roles count while a sign-in is recent
        token = identity.issue_token(uow.session, user, ["review"], days=30, max_days=365)
        actor = identity.actor_for(user).to_wire()
    rpc.approval.claim(actor=actor, deposit_id="d-left")
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/reviews", headers=bearer).status_code != 401

    left = apply_person_event(database, rpc, "left", {"person": {"email": "robin@campus.example"}})
    assert left == {"account_id": created["account_id"], "outcome": "deactivated"}
    assert client.get("/api/v1/reviews", headers=bearer).status_code == 401
    # the claim went back to the pool; the deposit's review stays
    task = rpc.approval.queue(actor={**actor, "id": "u-other", "roles": ["manager"]})
    assert task["counts"]["unassigned"] == 1
    with database.reading() as session:
        user = identity.find_external_user(session, ISSUER, "person-7")
        assert user.deactivated_at is not None and user.roles == []

    # the same event again, and a change after leaving, bring nothing back
    assert apply_person_event(database, rpc, "left", {"person": PERSON})["outcome"] == "unchanged"
    apply_person_event(database, rpc, "changed", _event(isMemberOf=["approvers"]))
    with database.reading() as session:
        assert identity.find_external_user(session, ISSUER, "person-7").roles == []
    assert client.get("/api/v1/reviews", headers=bearer).status_code == 401


def test_unknown_people(campus):
    _, database, rpc = campus
    nobody = {"person": {"issuer": ISSUER, "subject": "never-seen"}}
    assert apply_person_event(database, rpc, "left", nobody)["outcome"] == "unknown"
    # an account named by username or e-mail must exist: nothing is made from those
    by_name = {"person": {"username": "ghost"}, "attributes": {"isMemberOf": "approvers"}}
    assert apply_person_event(database, rpc, "changed", by_name)["outcome"] == "unknown"
    # a change for someone never announced provisions them
    assert apply_person_event(database, rpc, "changed", nobody)["outcome"] == "created"


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("moved", {"person": PERSON}, "kind"),
        ("left", ["not", "an", "object"], "_schema"),
        ("left", {}, "person"),
        ("left", {"person": {"issuer": ISSUER}}, "person"),
        ("left", {"person": {**PERSON, "username": "two-keys"}}, "person"),
        ("left", {"person": {"issuer": ISSUER, "subject": "x\u202ey"}}, "person"),
        ("left", {"person": {"issuer": ISSUER, "subject": "s" * 5000}}, "person"),
        ("changed", {"person": PERSON, "name": "Jo\x00"}, "name"),
        ("changed", {"person": PERSON, "attributes": {"g": [{"deep": [[[]]]}]}}, "attributes"),
        ("changed", {"person": PERSON, "attributes": {"g": ["x"] * 1000}}, "attributes"),
        (
            "changed",
            {"person": PERSON, "attributes": {f"a{n}": "x" for n in range(60)}},
            "attributes",
        ),
        ("changed", {"person": PERSON, "roles": ["admin"]}, "roles"),
    ],
)
def test_hostile_events_are_refused_naming_the_field(campus, kind, data, field):
    _, database, rpc = campus
    with pytest.raises(InvalidInput) as refused:
        apply_person_event(database, rpc, kind, data)
    assert field in refused.value.fields
