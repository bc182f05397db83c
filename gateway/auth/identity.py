"""Accounts, sign-in sessions, API tokens and failed sign-ins: the gateway's own records,
and the actor every RPC carries."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from gateway.auth.patrons import person_view
from gateway.models import ApiToken, FailedSignIn, SignInSession, User
from kernel.contracts.actors import Actor
from kernel.contracts.people import ROLES
from kernel.policy import permissions, text
from kernel.policy.permissions import SCOPES
from kernel.policy.text import user_pattern

MIN_PASSWORD_LENGTH = 12
LAST_USED_PRECISION = timedelta(minutes=1)
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
# failed sign-ins allowed within the window, per account name and per client address
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30
_hasher = PasswordHasher()
# verifying against this keeps a wrong username as slow as a wrong password
_DUMMY_HASH = _hasher.hash("not-a-password")


def _now() -> datetime:
    return datetime.now(UTC)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def actor_for(user: User) -> Actor:
    """The signed-in person as the services see them: who they are, their roles and language."""
    return Actor.from_wire({**person_view(user), "roles": user.roles, "locale": user.locale})


# --- local accounts -----------------------------------------------------------------------


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session,
    username: str,
    name: str,
    email: str,
    password: str | None,
    groups: list[str],
    roles: list[str],
    locale: str = "en",
    enforce_policy: bool = True,
) -> User:
    """`enforce_policy=False` is for the demo accounts' short password only."""
    if password is not None and enforce_policy:
        check_password_policy(password)
    user = User(
        id=uuid.uuid4().hex,
        username=username,
        name=name,
        email=email,
        password_hash=_hasher.hash(password) if password else None,
        groups=groups,
        roles=roles,
        locale=locale,
    )
    session.add(user)
    return user


def set_password(user: User, password: str) -> None:
    check_password_policy(password)
    user.password_hash = _hasher.hash(password)


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user if user is not None and user.deactivated_at is None else None


def deactivate(session: Session, user: User) -> None:
    """At once: every session ends, every token is revoked, and roles that came from an
    identity provider's claims (OIDC or SAML) are dropped (the next sign-in after
    reactivation brings back what the claims say)."""
    now = _now()
    user.deactivated_at = user.deactivated_at or now
    session.execute(
        update(SignInSession)
        .where(SignInSession.user_id == user.id, SignInSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if user.oidc_subject:
        user.roles = []


def reactivate(user: User) -> None:
    user.deactivated_at = None


def roles_now(user: User, max_claim_age: timedelta, fallback: tuple[str, ...]) -> list[str]:
    """The roles a token of `user` acts with. Roles from OIDC claims are only as fresh as the
    last sign-in; Lodge cannot ask the identity provider without the person, so once that
    is older than `max_claim_age` only the `fallback` roles count until they sign in again."""
    if not user.oidc_subject:
        return list(user.roles)
    if user.signed_in_at is not None and _now() - user.signed_in_at <= max_claim_age:
        return list(user.roles)
    return [role for role in user.roles if role in fallback]


# --- rate limiting of password sign-in ----------------------------------------------------


def _failure_keys(username: str, address: str) -> dict[str, int]:
    return {
        f"account:{username.strip().casefold()[:300]}": MAX_FAILURES_PER_ACCOUNT,
        f"address:{address}": MAX_FAILURES_PER_ADDRESS,
    }


def _lock_keys(session: Session, keys) -> None:
    """Attempts on the same keys wait for each other until the transaction ends. PostgreSQL:
    transaction advisory locks, taken in one order so two attempts never deadlock. SQLite
    has one writer: the delete that starts `reserve_sign_in` already holds it."""
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted(keys):
            session.execute(
                sql("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
            )


def reserve_sign_in(session: Session, username: str, address: str | None) -> tuple[int, list[int]]:
    """Check and record a password sign-in in one atomic step, before the password is
    verified: the seconds until another try is allowed (nothing recorded), or 0 and the
    failures recorded in advance, which `forgive_sign_in` removes if the password is right.
    N parallel wrong passwords therefore never get past the limit together."""
    now = _now()
    since = now - FAILURE_WINDOW
    # rows another attempt is deleting are skipped: two attempts never wait on each other here
    expired = (
        select(FailedSignIn.id).where(FailedSignIn.at < since).with_for_update(skip_locked=True)
    )
    session.execute(delete(FailedSignIn).where(FailedSignIn.id.in_(expired)))
    limits = _failure_keys(username, address or "unknown")
    _lock_keys(session, limits)
    wait = 0
    for key, limit in limits.items():
        times = session.scalars(
            select(FailedSignIn.at)
            .where(FailedSignIn.key == key, FailedSignIn.at > since)
            .order_by(FailedSignIn.at.desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:
            # the oldest of the last `limit` failures must leave the window first
            free_at = times[-1] + FAILURE_WINDOW
            wait = max(wait, math.ceil((free_at - now).total_seconds()), 1)
    if wait:
        return wait, []
    rows = [FailedSignIn(key=key, at=now) for key in limits]
    session.add_all(rows)
    session.flush()
    return 0, [row.id for row in rows]


def forgive_sign_in(session: Session, username: str, reserved: list[int]) -> None:
    """The password was right: this try is no failure, and the account's failures are cleared."""
    account_key = next(iter(_failure_keys(username, "")))
    session.execute(
        delete(FailedSignIn).where(
            (FailedSignIn.key == account_key) | FailedSignIn.id.in_(reserved)
        )
    )


# --- sign-in sessions ---------------------------------------------------------------------


def start_session(session: Session, user: User) -> str:
    """A new session id for the cookie; only its hash is stored."""
    session_id = secrets.token_urlsafe(32)
    session.execute(update(User).where(User.id == user.id).values(signed_in_at=_now()))
    session.add(SignInSession(id_hash=_sha256(session_id), user_id=user.id))
    return session_id


def user_for_session(session: Session, session_id: str) -> User | None:
    """The signed-in user, or None once the session ended, sat idle or grew too old."""
    row = session.get(SignInSession, _sha256(session_id))
    if row is None or row.ended_at is not None:
        return None
    now = _now()
    if now - row.seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT:
        row.ended_at = now
        return None
    user = session.get(User, row.user_id)
    if user is None or user.deactivated_at is not None:
        row.ended_at = now
        return None
    if now - row.seen_at > LAST_USED_PRECISION:
        row.seen_at = now
    return user


def end_session(session: Session, session_id: str) -> None:
    row = session.get(SignInSession, _sha256(session_id))
    if row is not None and row.ended_at is None:
        row.ended_at = _now()


# --- API tokens ---------------------------------------------------------------------------


def scopes_for(user: User) -> tuple[str, ...]:
    """The scopes worth giving a token of this user: what their roles can use."""
    return permissions.scopes_for(user.roles)


def issue_token(
    session: Session,
    user: User,
    scopes: tuple[str, ...] | list[str] | None = None,
    name: str = "",
    created_by: User | None = None,
    *,
    days: int,
    max_days: int,
) -> str:
    """A new token living `days` (at most the site's `max_days`); the value is returned once
    and only its SHA-256 is kept."""
    scopes = tuple(scopes) if scopes is not None else scopes_for(user)
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    if not 1 <= days <= max_days:
        raise ValueError(f"a token lives from 1 to {max_days} days")
    if user.deactivated_at is not None:
        raise ValueError("the account is deactivated")
    token = "lodge_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            id=uuid.uuid4().hex,
            user_id=user.id,
            token_hash=_sha256(token),
            prefix=token[:12],
            scopes=[s for s in SCOPES if s in scopes],
            name=name.strip()[:100],
            created_by=(created_by or user).id,
            expires_at=_now() + timedelta(days=days),
        )
    )
    return token


@dataclass
class TokenHolder:
    user: User
    scopes: frozenset[str] = field(default_factory=frozenset)


def holder_of_token(session: Session, token: str) -> TokenHolder | None:
    """The holder of a live token: not revoked, not expired, its account active."""
    now = _now()
    # one query for both: this runs before every API request
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == _sha256(token),
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > now,
            User.deactivated_at.is_(None),
        )
    ).first()
    if found is None:
        return None
    row, user = found
    # a write per request would cost more than it tells; a minute's precision is enough
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        row.last_used_at = now
    return TokenHolder(user, frozenset(row.scopes))


def token_id(session: Session, token: str) -> str | None:
    """The id of the row a token value is stored as, whatever its state."""
    return session.scalar(select(ApiToken.id).where(ApiToken.token_hash == _sha256(token)))


def tokens_of(session: Session, user_id: str | None = None) -> list[ApiToken]:
    """Live tokens, newest first: one user's, or everyone's when user_id is None."""
    query = select(ApiToken).where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > _now())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query.order_by(ApiToken.created_at.desc())))


def revoke_token(session: Session, token_id: str, owner_id: str | None = None) -> bool:
    """Revoke a live token; with owner_id, only if it is that user's."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None or (owner_id and row.user_id != owner_id):
        return False
    row.revoked_at = _now()
    return True


# --- institutional sign-in (OpenID Connect, SAML) ----------------------------------------


@dataclass(frozen=True)
class ClaimMapping:
    """How an identity provider's claims become Lodge groups and roles.

    Values of the `group_claims` (strings or lists) are collected. Each value becomes the
    Lodge groups `groups` maps it to, or itself when unmapped (unless `keep_unmapped` is
    false), and adds the roles `roles` maps it to. Everyone gets `default_roles`."""

    group_claims: tuple[str, ...] = ("groups",)
    groups: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)
    default_roles: tuple[str, ...] = ("patron",)
    keep_unmapped: bool = True
    username_claim: str = "preferred_username"

    @classmethod
    def from_dict(cls, data: dict) -> ClaimMapping:
        known = {
            "group_claims",
            "groups",
            "roles",
            "default_roles",
            "keep_unmapped",
            "username_claim",
        }
        if not isinstance(data, dict) or set(data) - known:
            raise ValueError(f"the claim mapping is an object with the keys {sorted(known)}")
        mapping = cls(
            group_claims=tuple(data.get("group_claims", cls.group_claims)),
            groups=dict(data.get("groups", {})),
            roles=dict(data.get("roles", {})),
            default_roles=tuple(data.get("default_roles", cls.default_roles)),
            keep_unmapped=bool(data.get("keep_unmapped", True)),
            username_claim=str(data.get("username_claim", cls.username_claim)),
        )
        bad_roles = {r for rs in mapping.roles.values() for r in _as_list(rs)} | set(
            mapping.default_roles
        )
        if bad_roles - set(ROLES):
            raise ValueError(
                f"unknown roles in the claim mapping: {sorted(bad_roles - set(ROLES))}"
            )
        return mapping

    def apply(self, claims: dict) -> tuple[list[str], list[str]]:
        values = [str(v) for claim in self.group_claims for v in _as_list(claims.get(claim))]
        groups: list[str] = []
        roles = list(self.default_roles)
        for value in values:
            mapped = self.groups.get(value)
            groups += (
                _as_list(mapped) if mapped is not None else ([value] if self.keep_unmapped else [])
            )
            roles += _as_list(self.roles.get(value))
        return _unique(groups), [r for r in ROLES if r in roles]


def mapping_for(
    issuer: str | None, oidc: tuple[str, ClaimMapping] | None, saml: ClaimMapping | None
) -> ClaimMapping:
    """The mapping an account's claims go through: OIDC's (`(issuer, mapping)`) for its
    issuer, SAML's for any other identity provider, else whichever is configured."""
    if oidc is not None and issuer == oidc[0]:
        return oidc[1]
    if saml is not None:
        return saml
    return oidc[1] if oidc is not None else ClaimMapping()


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


_USERNAME_JUNK = user_pattern(r"[^A-Za-z0-9._@-]+")


def _first(value) -> str:
    """One value of a claim: SAML attributes and person events may send a list."""
    values = _as_list(value)
    return str(values[0]) if values else ""


def find_external_user(session: Session, issuer: str, subject: str) -> User | None:
    """The account an identity provider (OIDC issuer or SAML entity id) knows as `subject`."""
    return session.scalar(
        select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
    )


def _name_and_email(claims: dict, mapping: ClaimMapping, fallback: str) -> tuple[str, str]:
    # the identity provider's words: what Lodge's text rule refuses is dropped, not refused
    name = text.one_line(
        _first(claims.get("name")) or _first(claims.get(mapping.username_claim)) or fallback
    )[: text.LIMITS["name"]]
    email = text.one_line(_first(claims.get("email")))[: text.LIMITS["name"]]
    return name, email


def refresh_from_claims(user: User, claims: dict, mapping: ClaimMapping) -> None:
    """Name, e-mail, groups and roles as the claims say now; a name or address the claims
    lack is kept, and a deactivated account gets no roles back."""
    groups, roles = mapping.apply(claims)
    name, email = _name_and_email(claims, mapping, user.name)
    user.name, user.email, user.groups = name, email or user.email, groups
    if user.deactivated_at is None:
        user.roles = roles


def provision_user(
    session: Session, issuer: str, subject: str, claims: dict, mapping: ClaimMapping
) -> User:
    """The user an identity provider (OIDC or SAML) vouches for, keyed by (issuer, subject):
    created on first sign-in, groups, roles, name and e-mail refreshed on every sign-in. A
    local account with the same name is never taken over. `claims` holds the provider's
    claims or attributes by name, with `name` and `email` for the person's name and address."""
    user = find_external_user(session, issuer, subject)
    if user is None:
        groups, roles = mapping.apply(claims)
        name, email = _name_and_email(claims, mapping, subject)
        wanted = (
            _USERNAME_JUNK.sub(
                "",
                _first(claims.get(mapping.username_claim))
                or _first(claims.get("email"))
                or subject,
            )[:100]
            or "user"
        )
        username = wanted
        if session.scalar(select(func.count()).select_from(User).where(User.username == username)):
            username = f"{wanted}-{_sha256(issuer + subject)[:8]}"
        user = User(
            id=uuid.uuid4().hex,
            username=username,
            name=name,
            email=email,
            password_hash=None,
            groups=groups,
            roles=roles,
            locale="en",
            oidc_issuer=issuer,
            oidc_subject=subject,
        )
        session.add(user)
    else:
        refresh_from_claims(user, claims, mapping)
    session.flush()
    return user
