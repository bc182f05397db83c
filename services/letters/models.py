from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.platform.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Letter(Base):
    """The outbox and delivery log in one: a letter is pending until delivered or failed."""

    __tablename__ = "letters"
    __table_args__ = (Index("ix_letters_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # event, recipient and letter type: an event delivered twice makes one letter
    key: Mapped[str] = mapped_column(String(400), unique=True)
    # empty (and revision 0) for a letter about an account, such as a token expiring
    deposit_id: Mapped[str] = mapped_column(String(32), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    letter_type: Mapped[str] = mapped_column(String(50))
    recipient: Mapped[str] = mapped_column(String(300))
    recipient_name: Mapped[str] = mapped_column(String(300), default="")
    # the account the letter went to, so a depositor sees "messages sent to you"
    recipient_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    is_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LetterTemplate(Base):
    """One saved version of a template; the newest version of a type and locale is used.
    A type and locale with no row uses the default shipped in services/letters/templates."""

    __tablename__ = "letter_templates"
    __table_args__ = (UniqueConstraint("letter_type", "locale", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_type: Mapped[str] = mapped_column(String(50))
    locale: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(500))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)  # a reset to the default
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Recipient(Base):
    """A staff user as letters know them, told by the gateway at sign-in: letters never read
    the gateway's accounts."""

    __tablename__ = "recipients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str] = mapped_column(String(300), default="")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    delivery: Mapped[str] = mapped_column(String(20), default="immediate")  # or digest
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingReview(Base):
    """A deposit waiting for an approver, so overdue reminders can be sent; once it has
    left review, a marker of the revision that left (`left_at`) for a while."""

    __tablename__ = "pending_reviews"
    __table_args__ = (
        Index(
            "ix_pending_reviews_waiting",
            "due_at",
            postgresql_where=sql_text("left_at IS NULL"),
            sqlite_where=sql_text("left_at IS NULL"),
        ),
    )

    deposit_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500), default="")
    depositor: Mapped[dict[str, Any]] = mapped_column(JSON)
    review: Mapped[dict[str, Any]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class DigestEntry(Base):
    """A letter an approver chose to get in their daily digest instead, waiting for it."""

    __tablename__ = "digest_entries"
    __table_args__ = (Index("ix_digest_entries_open", "recipient_id", "digest_letter_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    recipient_id: Mapped[str] = mapped_column(String(64))
    deposit_id: Mapped[str] = mapped_column(String(32))
    letter_type: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(500))
    link: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    digest_letter_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
