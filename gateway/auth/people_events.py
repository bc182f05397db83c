"""Person events from the campus identity system (created, changed, left), applied to
Lodge's accounts. The inbox worker receives them from the broker, checks that the sending
system may send person events, and calls `apply_person_event`; no web framework here.

- created/changed: the account keyed by (issuer, subject) is found or provisioned as at
  an OIDC or SAML sign-in; one named by username or e-mail must exist. Its groups and
  roles are recomputed through the claim mapping of its identity provider.
- left: the account is deactivated as an admin does it (sessions end, tokens are
  revoked, claim roles dropped, letters told it has no roles) and the review claims it
  holds go back to the pool; its deposits stay.

Every event may come twice: a repeat changes nothing more. After the account's change
is stored, letters and approval are told; if either fails the call raises and the worker
retries, and the repeat tells them again."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.auth import identity
from gateway.auth.oidc import OidcSettings
from gateway.auth.saml import SamlSettings, friendly_name
from gateway.models import User
from kernel.contracts.actors import SYSTEM, Actor
from kernel.contracts.campus_people import load_person_event
from kernel.policy.permissions import MANAGER, STAFF_ROLES

# releasing another person's claims is a supervisor's action: the feed acts as one
CAMPUS_IDENTITY = replace(SYSTEM, name="Campus identity", roles=(MANAGER,))


def _find(session: Session, person: dict) -> User | None:
    if "issuer" in person:
        return identity.find_external_user(session, person["issuer"], person["subject"])
    if "username" in person:
        return session.scalar(select(User).where(User.username == person["username"]))
    found = session.scalars(select(User).where(User.email == person["email"]).limit(2)).all()
    return found[0] if len(found) == 1 else None  # an address two accounts share names nobody


def _state(user: User) -> tuple:
    return (user.name, user.email, list(user.groups), list(user.roles), user.deactivated_at)


def _mapping(issuer: str | None) -> identity.ClaimMapping:
    oidc = OidcSettings.from_settings()
    saml = SamlSettings.from_settings()
    return identity.mapping_for(
        issuer,
        (oidc.issuer, oidc.mapping) if oidc else None,
        saml.mapping if saml else None,
    )


def _claims(event: dict) -> dict:
    claims: dict[str, Any] = {}
    for name, values in event["attributes"].items():
        claims.setdefault(friendly_name(name), []).extend(values)
    for key in ("name", "email"):
        if event.get(key):
            claims[key] = event[key]
    return claims


def apply_person_event(database, rpc_services, kind: str, data: dict) -> dict:
    """Apply one event; the outcome is {"account_id", "outcome"} with the outcome one of
    created, updated, deactivated, unchanged, unknown. Hostile data: InvalidInput."""
    event = load_person_event(kind, data)
    person = event["person"]
    if kind == "left":
        return _left(database, rpc_services, person)
    with database.unit_of_work() as uow:
        user = _find(uow.session, person)
        if user is None and "issuer" not in person:
            return {"account_id": None, "outcome": "unknown"}
        claims = _claims(event)
        if user is None:
            mapping = _mapping(person["issuer"])
            user = identity.provision_user(
                uow.session, person["issuer"], person["subject"], claims, mapping
            )
            return {"account_id": user.id, "outcome": "created"}
        before = _state(user)
        mapping = _mapping(user.oidc_issuer)
        if user.oidc_issuer and user.oidc_subject:
            identity.provision_user(
                uow.session, user.oidc_issuer, user.oidc_subject, claims, mapping
            )
        else:
            identity.refresh_from_claims(user, claims, mapping)
        changed = _state(user) != before
        return {"account_id": user.id, "outcome": "updated" if changed else "unchanged"}


def end_duties(rpc_services, person: Actor, by: Actor) -> None:
    """After a staff member's account is deactivated (by an admin or a person event): letters
    hear it has no roles, so staff letters stop, and its review claims go back to the pool.
    Both may be repeated."""
    rpc_services.letters.save_recipient(actor=replace(person, roles=()).to_wire(), delivery=None)
    rpc_services.approval.release_claims_of(actor=by.to_wire(), person_id=person.id)


def _left(database, rpc_services, person: dict) -> dict:
    with database.unit_of_work() as uow:
        user = _find(uow.session, person)
        if user is None:
            return {"account_id": None, "outcome": "unknown"}
        was_active = user.deactivated_at is None
        # staff hear letters; a repeat (letters may not have heard) tells them again
        tell = bool(STAFF_ROLES.intersection(user.roles)) or not was_active
        identity.deactivate(uow.session, user)
        actor = identity.actor_for(user)
    if tell:  # letters go to staff by their roles: none now
        rpc_services.letters.save_recipient(actor=replace(actor, roles=()).to_wire(), delivery=None)
    rpc_services.approval.release_claims_of(actor=CAMPUS_IDENTITY.to_wire(), person_id=actor.id)
    return {"account_id": actor.id, "outcome": "deactivated" if was_active else "unchanged"}
