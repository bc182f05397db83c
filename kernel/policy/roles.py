"""Role checks every service makes itself; services do not trust the gateway blindly."""
from kernel.contracts.exceptions import Forbidden

STAFF_ROLES = frozenset({"approver", "staff", "manager", "admin"})


def has_role(actor: dict, *roles: str) -> bool:
    held = set(actor.get("roles") or ())
    return "admin" in held or bool(held.intersection(roles))


def is_staff(actor: dict) -> bool:
    return bool(STAFF_ROLES.intersection(actor.get("roles") or ()))


def require_role(actor: dict, *roles: str) -> None:
    if not has_role(actor, *roles):
        raise Forbidden(f"This needs the role {' or '.join(roles)}.")


def own_deposit_refused() -> Forbidden:
    """Separation of duties: nobody reviews or decides on what they deposited or mediated."""
    return Forbidden("This is your own deposit: a colleague must review and decide on it.",
                     fields={"deposit_id": ["is your own deposit"]})


def person_ref(actor: dict) -> dict:
    """How an actor appears in history, events and letters."""
    return {key: actor.get(key) or default for key, default in
            (("id", ""), ("name", ""), ("email", ""), ("locale", "en"))}


SYSTEM = {"id": "system", "name": "Lodge", "email": "", "locale": "en"}
