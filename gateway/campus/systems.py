"""Registered campus systems, found by what authenticated them: the broker user a message
came from (RabbitMQ checks a message's `user_id` against its connection) or the account an
API token belongs to. Nothing a message says about its sender counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import CampusSystem, CampusSystemProfile
from kernel.contracts.campus import Mode


@dataclass(frozen=True)
class System:
    id: str
    name: str
    label: str
    user_id: str  # its own account: the actor of what it does, the owner of its tokens
    broker_user: str
    allowed_hosts: tuple[str, ...]
    sends_people: bool
    modes: dict[str, Mode]  # profile id → what its deposits with that profile become

    def mode_for(self, profile_id: str) -> Mode | None:
        """None: the system may not use the profile."""
        return self.modes.get(profile_id)


def _active(session: Session, *where) -> System | None:
    row = session.scalar(select(CampusSystem).where(CampusSystem.deactivated_at.is_(None), *where))
    if row is None:
        return None
    modes = {
        profile.profile_id: Mode(profile.mode)
        for profile in session.scalars(
            select(CampusSystemProfile).where(CampusSystemProfile.system_id == row.id)
        )
    }
    return System(
        id=row.id,
        name=row.name,
        label=row.label,
        user_id=row.user_id,
        broker_user=row.broker_user,
        allowed_hosts=tuple(row.allowed_hosts or ()),
        sends_people=row.sends_people,
        modes=modes,
    )


def by_broker_user(session: Session, broker_user: str) -> System | None:
    return _active(session, CampusSystem.broker_user == broker_user)


def by_account(session: Session, user_id: str) -> System | None:
    return _active(session, CampusSystem.user_id == user_id)


def by_name(session: Session, name: str) -> System | None:
    return _active(session, CampusSystem.name == name)
