"""Who may do what: every action Lodge guards and the roles that may take it, in one table.

The services check it at their entrypoints' work (they do not trust the web front blindly);
the web front's decorators, menus and token scopes read the same table.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import Forbidden
from kernel.contracts.people import ROLES

PATRON, APPROVER, STAFF, MANAGER, ADMIN = ROLES

# what an API token may be good for; a browser session may use everything its roles allow
DEPOSIT_SCOPE, REVIEW_SCOPE, MANAGE_SCOPE = "deposit", "review", "manage"
SCOPES = (DEPOSIT_SCOPE, REVIEW_SCOPE, MANAGE_SCOPE)


class Action(StrEnum):
    DEPOSIT = "deposit"
    """Make, edit, submit and withdraw deposits of one's own."""
    ACT_FOR_ANY_DEPOSITOR = "act_for_any_depositor"
    """Edit, submit and withdraw anyone's deposit as if one were its depositor."""
    MEDIATE = "mediate"
    """Deposit on a patron's behalf (and find the patron)."""
    SEE_ALL_DEPOSITS = "see_all_deposits"
    """The staff desk: every deposit, any profile, statistics, fixity, file events, staff
    letters."""
    REVIEW = "review"
    """The review queue and the tasks of one's approver groups, reasons to choose from."""
    DECIDE = "decide"
    """Claim, release, assign, edit metadata, note and decide on a task one may review."""
    SUPERVISE_REVIEWS = "supervise_reviews"
    """Tasks of every approver group; release or reassign someone else's claim."""
    MANAGE_PROFILES = "manage_profiles"
    MANAGE_REASONS = "manage_reasons"
    MANAGE_LETTERS = "manage_letters"
    MANAGE_COLLECTIONS = "manage_collections"
    WITHDRAW_ITEMS = "withdraw_items"
    MANAGE_ACCOUNTS = "manage_accounts"
    """Deactivate and reactivate accounts, see and revoke everyone's API tokens."""
    MANAGE_DEAD_LETTERS = "manage_dead_letters"
    """See, replay and drop the messages services could not handle (dead letters)."""
    MANAGE_DOIS = "manage_dois"
    """Send an item's metadata to DataCite again (retry a failed DOI registration)."""
    EXPORT_BAGS = "export_bags"
    """Ask for an item's preservation export (a BagIt bag) now."""
    VERSION_ANY_ITEM = "version_any_item"
    """Start a new version of any archived item (its depositor may of their own)."""
    CORRECT_ITEMS = "correct_items"
    """Correct the metadata of an archived item, with a reason kept in its history."""
    SEE_USAGE = "see_usage"
    """Usage statistics: the COUNTER report, the most viewed and downloaded items."""
    MANAGE_SYSTEMS = "manage_systems"
    """Register campus systems, change and deactivate them, issue and revoke their tokens."""


@dataclass(frozen=True)
class Rule:
    roles: tuple[str, ...]
    """Who may, in the order a refusal names them; admin is added to every rule below."""
    scopes: tuple[str, ...]
    """The token scopes that open it (any one of them)."""
    everyone: bool = False
    """Any signed-in person, whatever their roles."""
    not_on_own_deposit: bool = False
    """Nobody takes it on a deposit they made or mediated, whatever their roles."""


def _rule(
    *roles: str, scopes: tuple[str, ...], everyone: bool = False, not_on_own_deposit: bool = False
) -> Rule:
    # admin may take every action: the one place that says so
    return Rule((*roles, ADMIN) if roles else (ADMIN,), scopes, everyone, not_on_own_deposit)


ANY_STAFF_SCOPE = SCOPES  # the desk is shared: a token of any scope its roles work with

POLICY: dict[Action, Rule] = {
    Action.DEPOSIT: _rule(scopes=(DEPOSIT_SCOPE,), everyone=True),
    Action.ACT_FOR_ANY_DEPOSITOR: _rule(scopes=(DEPOSIT_SCOPE,)),
    Action.MEDIATE: _rule(STAFF, scopes=(DEPOSIT_SCOPE,)),
    Action.SEE_ALL_DEPOSITS: _rule(APPROVER, STAFF, MANAGER, scopes=ANY_STAFF_SCOPE),
    Action.REVIEW: _rule(APPROVER, MANAGER, scopes=(REVIEW_SCOPE,)),
    Action.DECIDE: _rule(APPROVER, MANAGER, scopes=(REVIEW_SCOPE,), not_on_own_deposit=True),
    Action.SUPERVISE_REVIEWS: _rule(MANAGER, scopes=(REVIEW_SCOPE,)),
    Action.MANAGE_PROFILES: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.MANAGE_REASONS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.MANAGE_LETTERS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.MANAGE_COLLECTIONS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.WITHDRAW_ITEMS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.MANAGE_ACCOUNTS: _rule(scopes=(MANAGE_SCOPE,)),
    Action.MANAGE_DEAD_LETTERS: _rule(scopes=(MANAGE_SCOPE,)),
    Action.MANAGE_DOIS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.EXPORT_BAGS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.VERSION_ANY_ITEM: _rule(STAFF, MANAGER, scopes=(DEPOSIT_SCOPE,)),
    Action.CORRECT_ITEMS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
    Action.SEE_USAGE: _rule(STAFF, MANAGER, scopes=ANY_STAFF_SCOPE),
    Action.MANAGE_SYSTEMS: _rule(MANAGER, scopes=(MANAGE_SCOPE,)),
}

STAFF_ROLES = frozenset(POLICY[Action.SEE_ALL_DEPOSITS].roles)
"""The roles that work at the staff desk, and so get staff letters."""

TOLD_OF_REVIEWS = APPROVER
"""Who is sent letters about deposits waiting for review: it decides who is told, not who may
act (that is Action.REVIEW and Action.DECIDE)."""


def holds_any_role(actor: Actor, roles: Collection[str]) -> bool:
    """For roles a profile names (its mediators): admin counts as each, as in the table."""
    return ADMIN in actor.roles or not set(actor.roles).isdisjoint(roles)


def is_own_deposit(actor: Actor, depositor_id: str | None, mediator_id: str | None) -> bool:
    """A deposit one made, or made for a patron."""
    return actor.id in (depositor_id, mediator_id)


def may_start_new_version(actor: Actor, depositor_id: str) -> bool:
    """A new version of an archived item: its depositor, or staff."""
    return (actor.id == depositor_id and can(actor, Action.DEPOSIT)) or can(
        actor, Action.VERSION_ANY_ITEM
    )


def own_deposit_refused() -> Forbidden:
    """Separation of duties: nobody reviews or decides on what they deposited or mediated."""
    return Forbidden(
        "This is your own deposit: a colleague must review and decide on it.",
        fields={"deposit_id": ["is your own deposit"]},
    )


def role_refused(action: Action) -> Forbidden:
    return Forbidden(f"This needs the role {' or '.join(_named_roles(action))}.")


def _named_roles(action: Action) -> tuple[str, ...]:
    roles = POLICY[action].roles
    return tuple(role for role in roles if role != ADMIN) or roles


def has_role_for(actor: Actor, action: Action) -> bool:
    """The table's role rule alone, before any rule about the deposit acted on."""
    rule = POLICY[action]
    return rule.everyone or not set(actor.roles).isdisjoint(rule.roles)


def can(
    actor: Actor, action: Action, *, depositor_id: str | None = None, mediator_id: str | None = None
) -> bool:
    """May `actor` take `action` (on the deposit of `depositor_id`, if it is about one)?"""
    if not has_role_for(actor, action):
        return False
    return not (
        POLICY[action].not_on_own_deposit
        and depositor_id is not None
        and is_own_deposit(actor, depositor_id, mediator_id)
    )


def require(
    actor: Actor, action: Action, *, depositor_id: str | None = None, mediator_id: str | None = None
) -> None:
    """`can`, or the Forbidden that says which rule refused."""
    if not has_role_for(actor, action):
        raise role_refused(action)
    if not can(actor, action, depositor_id=depositor_id, mediator_id=mediator_id):
        raise own_deposit_refused()


def actions_of(roles: Collection[str]) -> frozenset[Action]:
    """Every action a holder of these roles may take (on deposits not their own)."""
    actor = Actor(id="", roles=tuple(roles))
    return frozenset(action for action in Action if has_role_for(actor, action))


def scopes_for(roles: Collection[str]) -> tuple[str, ...]:
    """The token scopes worth giving someone: those their actions are opened by, in order.
    The desk's shared scopes do not count: they open what a role's own scope opens."""
    wanted = {
        scope
        for action in actions_of(roles)
        if POLICY[action].scopes != ANY_STAFF_SCOPE
        for scope in POLICY[action].scopes
    }
    return tuple(scope for scope in SCOPES if scope in wanted)
