"""Local accounts and API tokens: hashing, checking, and the actor every RPC carries."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import ApiToken, User

MIN_PASSWORD_LENGTH = 4  # demo accounts use "demo"; issue 8 raises it with rate limiting
TOKEN_SCOPES = ("deposit", "review", "manage")
LAST_USED_PRECISION = timedelta(minutes=1)
_hasher = PasswordHasher()
# verifying against this keeps a wrong username as slow as a wrong password
_DUMMY_HASH = _hasher.hash("not-a-password")


def actor_for(user: User) -> dict:
    return {"id": user.id, "username": user.username, "name": user.name, "email": user.email,
            "groups": list(user.groups), "roles": list(user.roles), "locale": user.locale}


def create_user(session: Session, username: str, name: str, email: str, password: str | None,
                groups: list[str], roles: list[str], locale: str = "en") -> User:
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    user = User(id=uuid.uuid4().hex, username=username, name=name, email=email,
                password_hash=_hasher.hash(password) if password else None,
                groups=groups, roles=roles, locale=locale)
    session.add(user)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, scopes: tuple[str, ...] = TOKEN_SCOPES) -> str:
    token = "lodge_" + secrets.token_urlsafe(32)
    session.add(ApiToken(id=uuid.uuid4().hex, user_id=user.id, token_hash=_token_hash(token),
                         prefix=token[:12], scopes=list(scopes)))
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token),
                                                ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    now = datetime.now(timezone.utc)
    # a write per request would cost more than it tells; a minute's precision is enough
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        row.last_used_at = now
    return session.get(User, row.user_id)
