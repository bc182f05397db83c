"""The gateway's own tables: local accounts, API tokens, sign-in sessions, failed sign-ins
and idempotent requests. A session is a row here and its cookie holds only the row's id, so
any gateway instance serves any request."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.platform.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str] = mapped_column(String(300), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # set for people who sign in through OpenID Connect: the issuer and its subject
    oidc_issuer: Mapped[str | None] = mapped_column(String(300), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # a deactivated account signs in no more, and its sessions and tokens stop
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the last sign-in: roles from OIDC claims are as fresh as it is
    signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_users_oidc"),)


class ApiToken(Base):
    """Stored as a SHA-256 of the token; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # when its owner was told by letter that it expires soon
    expiry_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": self.scopes,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
        }


class SignInSession(Base):
    """A signed-in browser session. The cookie holds its id; ending the row signs it out
    everywhere, and every gateway instance sees the same rows."""

    __tablename__ = "sign_in_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SamlRequest(Base):
    """An AuthnRequest sent to an identity provider, until its response is used once. The
    browser that sent it holds the secret whose hash is `browser_hash` (a cookie the
    identity provider's cross-site POST still carries), so a response is accepted only
    from that browser, only once, and only in answer to this request."""

    __tablename__ = "saml_requests"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    idp: Mapped[str] = mapped_column(String(300))
    browser_hash: Mapped[str] = mapped_column(String(64), index=True)
    after_sign_in: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FailedSignIn(Base):
    """One failed password sign-in, counted per account and per address to slow guessing
    down on every gateway instance alike."""

    __tablename__ = "failed_sign_ins"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_failed_sign_ins_key_at", "key", "at"),)


class IdempotentRequest(Base):
    """A POST sent with an Idempotency-Key: what it asked (a fingerprint) and, once it
    succeeded, its answer, replayed when the same caller sends the same key again."""

    __tablename__ = "idempotent_requests"

    caller_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status: Mapped[int | None] = mapped_column(nullable=True)  # None while it runs
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class UsageSalt(Base):
    """The day's secret salt of the usage statistics' user hashes (gateway/http/usage.py),
    shared by every gateway instance; deleted once its day is over, so yesterday's hashes
    can no longer be tied to an address."""

    __tablename__ = "usage_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))


class CampusSystem(Base):
    """A campus system managers registered. It acts as its own account (`user_id`: its API
    tokens, the actor of what it does) and its own broker user, and only with the profiles
    it names, each in one mode (`kernel.contracts.campus.Mode`)."""

    __tablename__ = "campus_systems"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)  # SYSTEM_NAME: its keys, queues
    label: Mapped[str] = mapped_column(String(300))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), unique=True)
    broker_user: Mapped[str] = mapped_column(String(150), unique=True)
    # hosts (or host:port) its files may be fetched from by URL
    allowed_hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    # whether it is the campus identity system, whose person events Lodge applies
    sends_people: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CampusSystemProfile(Base):
    """A profile a campus system may deposit with, and what its deposits become there."""

    __tablename__ = "campus_system_profiles"

    system_id: Mapped[str] = mapped_column(
        ForeignKey("campus_systems.id", ondelete="CASCADE"), primary_key=True
    )
    profile_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))


class CampusRequest(Base):
    """A campus system's request, by its CloudEvents source and id, and the reply it got:
    the same request again gets that reply (marked duplicate) and makes nothing new. Only
    final replies are kept; a request cut short by a fault is carried out again."""

    __tablename__ = "campus_requests"

    system_id: Mapped[str] = mapped_column(
        ForeignKey("campus_systems.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(500), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(200))
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
