"""The permission table: admin, each role, no role, and nobody deciding on their own deposit."""

import pytest

from kernel.contracts.actors import SYSTEM, Actor
from kernel.contracts.exceptions import Forbidden
from kernel.contracts.people import ROLES
from kernel.policy.permissions import (
    ADMIN,
    POLICY,
    STAFF_ROLES,
    Action,
    can,
    holds_any_role,
    require,
    scopes_for,
)

MANAGER_ONLY = {
    Action.MANAGE_PROFILES,
    Action.MANAGE_REASONS,
    Action.MANAGE_LETTERS,
    Action.MANAGE_COLLECTIONS,
    Action.WITHDRAW_ITEMS,
    Action.SUPERVISE_REVIEWS,
    Action.MANAGE_DOIS,
    Action.EXPORT_BAGS,
    Action.CORRECT_ITEMS,
    Action.MANAGE_SYSTEMS,
}
EXPECTED = {
    "patron": {Action.DEPOSIT},
    "approver": {Action.DEPOSIT, Action.SEE_ALL_DEPOSITS, Action.REVIEW, Action.DECIDE},
    "staff": {
        Action.DEPOSIT,
        Action.SEE_ALL_DEPOSITS,
        Action.MEDIATE,
        Action.VERSION_ANY_ITEM,
        Action.SEE_USAGE,
    },
    "manager": {
        Action.DEPOSIT,
        Action.SEE_ALL_DEPOSITS,
        Action.REVIEW,
        Action.DECIDE,
        Action.VERSION_ANY_ITEM,
        Action.SEE_USAGE,
    }
    | MANAGER_ONLY,
    "admin": set(Action),
}


def person(*roles: str, id: str = "someone") -> Actor:
    return Actor(id=id, name="Some One", roles=roles)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_take_exactly_its_actions(role):
    assert {action for action in Action if can(person(role), action)} == EXPECTED[role]


def test_admin_is_in_every_rule_and_may_take_every_action():
    assert all(ADMIN in rule.roles for rule in POLICY.values())
    assert all(can(person(ADMIN), action) for action in Action)


def test_no_role_may_only_deposit():
    assert {action for action in Action if can(person(), action)} == {Action.DEPOSIT}
    assert not can(SYSTEM, Action.REVIEW)


def test_every_action_has_a_rule():
    assert set(POLICY) == set(Action)


def test_roles_add_up():
    assert can(person("patron", "approver"), Action.REVIEW)
    assert not can(person("patron", "approver"), Action.SUPERVISE_REVIEWS)


def test_require_names_the_roles_that_would_do():
    with pytest.raises(Forbidden, match=r"^This needs the role approver or manager\.$"):
        require(person("staff"), Action.REVIEW)
    with pytest.raises(Forbidden, match=r"^This needs the role admin\.$"):
        require(person("manager"), Action.MANAGE_ACCOUNTS)
    require(person("manager"), Action.MANAGE_PROFILES)


@pytest.mark.parametrize("role", ["approver", "manager", "admin"])
def test_nobody_decides_on_their_own_deposit(role):
    me = person(role, id="me")
    assert can(me, Action.DECIDE, depositor_id="someone-else")
    assert not can(me, Action.DECIDE, depositor_id="me")
    assert not can(me, Action.DECIDE, depositor_id="a-patron", mediator_id="me")
    with pytest.raises(Forbidden) as refused:
        require(me, Action.DECIDE, depositor_id="me")
    assert refused.value.fields == {"deposit_id": ["is your own deposit"]}
    # they may still look at it
    assert can(me, Action.REVIEW)


def test_the_own_deposit_rule_is_only_on_deciding():
    me = person("manager", id="me")
    assert [action for action, rule in POLICY.items() if rule.not_on_own_deposit] == [Action.DECIDE]
    assert can(me, Action.SUPERVISE_REVIEWS, depositor_id="me")


def test_a_role_refusal_comes_before_the_own_deposit_rule():
    with pytest.raises(Forbidden, match="needs the role"):
        require(person("patron", id="me"), Action.DECIDE, depositor_id="me")


def test_staff_roles_are_the_desk():
    assert {"approver", "staff", "manager", "admin"} == STAFF_ROLES


def test_roles_a_profile_names_count_admin_as_each():
    assert holds_any_role(person("approver"), ["approver", "staff"])
    assert not holds_any_role(person("staff"), ["approver"])
    assert holds_any_role(person("admin"), ["approver"])


def test_token_scopes_follow_the_actions_of_the_roles():
    assert scopes_for(["patron"]) == ("deposit",)
    assert scopes_for(["staff"]) == ("deposit",)
    assert scopes_for(["approver"]) == ("deposit", "review")
    assert scopes_for(["manager"]) == ("deposit", "review", "manage")
    assert scopes_for(["admin"]) == ("deposit", "review", "manage")


def test_an_actor_crosses_the_wire_unchanged():
    wire = {
        "id": "u1",
        "username": "sam",
        "name": "Sam",
        "email": "sam@example.edu",
        "groups": ["student", "chemistry"],
        "roles": ["patron"],
        "locale": "de",
    }
    assert Actor.from_wire(wire).to_wire() == wire
    assert Actor.from_wire({"id": "u2"}) == Actor(id="u2")
    assert Actor.from_wire(wire).person_ref() == {
        "id": "u1",
        "name": "Sam",
        "email": "sam@example.edu",
        "locale": "de",
    }
