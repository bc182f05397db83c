"""Registering campus systems: what managers may say about a system, checked; the system's
own account (its actor and the owner of its API tokens, which can never sign in on pages);
its rows; its tokens; and deactivation. Free of Flask: the API and the staff page call it
with a database session and do their own talking."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate, validates, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.auth import identity
from gateway.campus import fetching, systems, webhooks
from gateway.models import ApiToken, CampusSystem, CampusSystemProfile, User
from kernel.contracts.campus import MODES, SYSTEM_NAME
from kernel.contracts.exceptions import Conflict, InvalidInput, NotFound
from kernel.contracts.fields import PROFILE_ID, Strict, Text
from kernel.contracts.rpc import load_or_raise
from kernel.policy.permissions import DEPOSIT_SCOPE
from kernel.policy.text import user_pattern

MAX_HOSTS = 50
MAX_ENTRY_LENGTH = 300
MAX_PROFILES = 200
TOKEN_NAME_LENGTH = 100  # the column's
# what RabbitMQ takes as a user name and `lodge broker-users` can write in a definition
BROKER_USER = user_pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,149}$")
# Lodge's own broker accounts (`lodge broker-users`: lodge-<process>) and RabbitMQ's default:
# a system named after one would get its grants on `--apply`
RESERVED_BROKER_USERS = ("lodge", "guest")


def account_username(name: str) -> str:
    return f"system-{name}"


def default_broker_user(name: str) -> str:
    return f"campus-{name}"


class AllowListEntry(fields.Str):
    """Where a system's files may be fetched from, as the fetch reads it
    (gateway/campus/fetching.py: `host[:port]`, `http://host[:port]`, `s3://bucket`), kept in
    its one spelling."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > MAX_ENTRY_LENGTH:
            raise ValidationError(f"longer than {MAX_ENTRY_LENGTH} characters")
        try:
            return fetching.canonical_entry(value)
        except ValueError as err:
            raise ValidationError(str(err)) from None


class ProfileModeSchema(Strict):
    profile_id = fields.Str(
        required=True,
        validate=validate.Regexp(PROFILE_ID, error="use lower-case letters, digits and hyphens"),
    )
    mode = fields.Str(required=True, validate=validate.OneOf(MODES))


class SystemChangeSchema(Strict):
    """What a manager may change about a registered system (all of it optional)."""

    label = Text("name", min_length=1)
    profiles = fields.List(
        fields.Nested(ProfileModeSchema), validate=validate.Length(max=MAX_PROFILES)
    )
    allowed_hosts = fields.List(AllowListEntry(), validate=validate.Length(max=MAX_HOSTS))
    sends_people = fields.Bool()
    broker_user = fields.Str(
        validate=validate.Regexp(
            BROKER_USER, error="letters, digits, dots, hyphens and underscores, at most 150"
        )
    )
    active = fields.Bool()  # false deactivates it, true reactivates it (its tokens stay revoked)

    @validates("broker_user")
    def not_lodges_own(self, value: str, **kwargs: Any) -> None:
        lowered = value.lower()
        if any(lowered == r or lowered.startswith(f"{r}-") for r in RESERVED_BROKER_USERS):
            raise ValidationError("is one of Lodge's own broker accounts")

    @validates_schema
    def one_mode_per_profile(self, data: dict[str, Any], **kwargs: Any) -> None:
        ids = [entry["profile_id"] for entry in data.get("profiles", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("name each profile once", "profiles")


class SystemSchema(SystemChangeSchema):
    """A new system: its name is for good (its routing keys, queues and account follow it)."""

    name = fields.Str(
        required=True,
        validate=validate.Regexp(
            SYSTEM_NAME, error="lower-case letters, digits and hyphens, at most 40"
        ),
    )
    label = Text("name", min_length=1, required=True)

    class Meta(SystemChangeSchema.Meta):
        exclude = ("active",)


def _now() -> datetime:
    return datetime.now(UTC)


def _row(session: Session, system_id: str) -> CampusSystem:
    row = session.get(CampusSystem, system_id)
    if row is None:
        raise NotFound("There is no such campus system.")
    return row


# the ids of the profiles there are (intake's), asked only of a body that names some
KnownProfiles = Callable[[], Collection[str]]


def _check_profiles(entries: list[dict[str, str]], known_profiles: KnownProfiles) -> None:
    if not entries:
        return
    unknown = sorted({e["profile_id"] for e in entries} - set(known_profiles()))
    if unknown:
        raise InvalidInput(
            "Some of the profiles do not exist.",
            fields={"profiles": [f"no profile {profile_id!r}" for profile_id in unknown]},
        )


def _check_free(session: Session, system_id: str | None, *, broker_user: str | None = None) -> None:
    if broker_user is None:
        return
    other = session.scalar(
        select(CampusSystem.id).where(
            CampusSystem.broker_user == broker_user, CampusSystem.id != (system_id or "")
        )
    )
    if other is not None:
        raise Conflict(
            "Another system has that broker user.", fields={"broker_user": ["already used"]}
        )


def view(session: Session, row: CampusSystem) -> dict[str, Any]:
    """A system as managers see it, with its live tokens (never their values)."""
    profiles = session.scalars(
        select(CampusSystemProfile)
        .where(CampusSystemProfile.system_id == row.id)
        .order_by(CampusSystemProfile.profile_id)
    )
    account = session.get(User, row.user_id)
    return {
        "id": row.id,
        "name": row.name,
        "label": row.label,
        "account": account.username if account else None,
        "profiles": [{"profile_id": p.profile_id, "mode": p.mode} for p in profiles],
        "allowed_hosts": list(row.allowed_hosts or ()),
        "sends_people": row.sends_people,
        "broker_user": row.broker_user,
        "created_at": row.created_at,
        "active": row.deactivated_at is None,
        "deactivated_at": row.deactivated_at,
        "tokens": [t.as_dict() for t in identity.tokens_of(session, row.user_id)],
        "webhook_secret_at": row.webhook_secret_at,  # when it was made; never the secret
    }


def list_systems(session: Session) -> list[dict[str, Any]]:
    """Active systems first, then by name."""
    rows = session.scalars(
        select(CampusSystem).order_by(CampusSystem.deactivated_at.is_not(None), CampusSystem.name)
    )
    return [view(session, row) for row in rows]


def get_system(session: Session, system_id: str) -> dict[str, Any]:
    return view(session, _row(session, system_id))


def create_system(
    session: Session, data: dict[str, Any], known_profiles: KnownProfiles, created_by: str
) -> dict[str, Any]:
    """Register a system from unchecked `data`: its account `system-<name>` (no password, no
    roles: the registration says what it may do) and its rows."""
    body = load_or_raise(SystemSchema(), data)
    name = body["name"]
    _check_profiles(body.get("profiles", []), known_profiles)
    broker_user = body.get("broker_user") or default_broker_user(name)
    if session.scalar(select(CampusSystem.id).where(CampusSystem.name == name)):
        raise Conflict("A system of that name is registered.", fields={"name": ["already used"]})
    if session.scalar(select(User.id).where(User.username == account_username(name))):
        raise Conflict(
            f"An account {account_username(name)!r} exists already.",
            fields={"name": ["its account name is taken"]},
        )
    _check_free(session, None, broker_user=broker_user)
    account = identity.create_user(
        session, account_username(name), body["label"], "", None, groups=[], roles=[]
    )
    session.flush()  # the account first: the system's row refers to it
    row = CampusSystem(
        id=uuid.uuid4().hex,
        name=name,
        label=body["label"],
        user_id=account.id,
        broker_user=broker_user,
        allowed_hosts=body.get("allowed_hosts", []),
        sends_people=body.get("sends_people", False),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    _set_profiles(session, row, body.get("profiles", []))
    return view(session, row)


def update_system(
    session: Session, system_id: str, data: dict[str, Any], known_profiles: KnownProfiles
) -> dict[str, Any]:
    row = _row(session, system_id)
    body = load_or_raise(SystemChangeSchema(), data)
    active = body.pop("active", None)
    if row.deactivated_at is not None:
        if not active:
            raise Conflict(
                "The system is deactivated: reactivate it first.", fields={"active": ["is false"]}
            )
        row.deactivated_at = None
        identity.reactivate(session.get_one(User, row.user_id))
    if "profiles" in body:
        _check_profiles(body["profiles"], known_profiles)
        _set_profiles(session, row, body["profiles"])
    _check_free(session, row.id, broker_user=body.get("broker_user"))
    if "label" in body:
        row.label = body["label"]
        # letters name the system by its account's name ("… deposited on your behalf")
        session.get_one(User, row.user_id).name = body["label"]
    for key in ("allowed_hosts", "sends_people", "broker_user"):
        if key in body:
            setattr(row, key, body[key])
    session.flush()
    if active is False:
        return deactivate_system(session, row.id)
    return view(session, row)


def _set_profiles(session: Session, row: CampusSystem, entries: list[dict[str, str]]) -> None:
    wanted = {e["profile_id"]: e["mode"] for e in entries}
    for existing in session.scalars(
        select(CampusSystemProfile).where(CampusSystemProfile.system_id == row.id)
    ):
        if existing.profile_id in wanted:
            existing.mode = wanted.pop(existing.profile_id)
        else:
            session.delete(existing)
    session.add_all(
        CampusSystemProfile(system_id=row.id, profile_id=profile_id, mode=mode)
        for profile_id, mode in wanted.items()
    )
    session.flush()


def deactivate_system(session: Session, system_id: str) -> dict[str, Any]:
    """At once and for good: its account is deactivated (its tokens revoked) and the
    lookups that find systems by broker user or token ignore it. Its deposits stay."""
    row = _row(session, system_id)
    row.deactivated_at = row.deactivated_at or _now()
    row.webhook_secret = row.webhook_secret_at = None
    identity.deactivate(session, session.get_one(User, row.user_id))
    session.flush()
    return view(session, row)


class TokenSchema(Strict):
    name = Text("name", load_default="")
    days = fields.Int(required=True, strict=True)

    @validates("name")
    def short_name(self, value: str, **kwargs: Any) -> None:
        if len(value) > TOKEN_NAME_LENGTH:
            raise ValidationError(f"at most {TOKEN_NAME_LENGTH} characters")


def issue_token(
    session: Session, system_id: str, data: dict[str, Any], *, max_days: int, created_by: User
) -> dict[str, Any]:
    """A new API token of the system's account, scope `deposit`, living `days` (as every
    token, at most the site's limit): the token with its value, which is shown this once."""
    row = _row(session, system_id)
    if row.deactivated_at is not None:
        raise Conflict("The system is deactivated.", fields={"active": ["is false"]})
    body = load_or_raise(TokenSchema(), data)
    if not 1 <= body["days"] <= max_days:
        raise InvalidInput(
            "Choose the token's lifetime.", fields={"days": [f"from 1 to {max_days} days"]}
        )
    value = identity.issue_token(
        session,
        session.get_one(User, row.user_id),
        (DEPOSIT_SCOPE,),
        name=body["name"],
        created_by=created_by,
        days=body["days"],
        max_days=max_days,
    )
    session.flush()
    return {
        **session.get_one(ApiToken, identity.token_id(session, value)).as_dict(),
        "token": value,
    }


def new_webhook_secret(session: Session, system_id: str) -> str:
    """A new secret for the system's signed webhook requests, replacing the one before at
    once; returned this once."""
    row = _row(session, system_id)
    if row.deactivated_at is not None:
        raise Conflict("The system is deactivated.", fields={"active": ["is false"]})
    row.webhook_secret, row.webhook_secret_at = webhooks.new_secret(), _now()
    return row.webhook_secret


def webhook_secret_of(session: Session, name: str) -> tuple[systems.System, str] | None:
    """An active system of that name and its webhook secret, if it has one."""
    system = systems.by_name(session, name)
    if system is None:
        return None
    secret = session.get_one(CampusSystem, system.id).webhook_secret
    return (system, secret) if secret else None


def revoke_token(session: Session, system_id: str, token_id: str) -> None:
    row = _row(session, system_id)
    if not identity.revoke_token(session, token_id, owner_id=row.user_id):
        raise NotFound("The system has no such live token.")
