"""Finding people among the gateway's accounts: for staff who deposit on someone's behalf,
and for the staff list of deposits ("by depositor")."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.models import User

MAX_RESULTS = 50
MAX_QUERY = 100


def person_view(user: User) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "groups": list(user.groups),
    }


def find_people(session: Session, words: str, limit: int = 10) -> list[User]:
    """People whose name, username or e-mail contains `words`, or whose id it is;
    at most `limit`, by name."""
    words = words.strip()
    if not words:
        return []
    query = (
        select(User)
        .where(
            or_(
                User.id == words,
                User.name.icontains(words, autoescape=True),
                User.username.icontains(words, autoescape=True),
                User.email.icontains(words, autoescape=True),
            )
        )
        .order_by(User.name, User.username)
        .limit(min(limit, MAX_RESULTS))
    )
    return list(session.scalars(query))


def person(session: Session, user_id: str | None) -> User | None:
    return session.get(User, user_id) if user_id else None
