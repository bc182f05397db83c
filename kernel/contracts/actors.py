"""Who is asking: the actor every RPC names, typed inside a process, a dict on the wire."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    id: str
    name: str = ""
    email: str = ""
    locale: str = "en"
    username: str | None = None
    # tuples, in the order they were given, so an actor goes back on the wire as it came
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Actor:
        """An actor as an RPC carries it (missing keys take their defaults)."""
        return cls(
            id=wire["id"],
            name=wire.get("name") or "",
            email=wire.get("email") or "",
            locale=wire.get("locale") or "en",
            username=wire.get("username"),
            roles=tuple(wire.get("roles") or ()),
            groups=tuple(wire.get("groups") or ()),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "email": self.email,
            "groups": list(self.groups),
            "roles": list(self.roles),
            "locale": self.locale,
        }

    def person_ref(self) -> dict[str, str]:
        """How an actor appears in history, events and letters."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "locale": self.locale or "en",
        }

    def in_any_group(self, groups: Iterable[str]) -> bool:
        return not set(self.groups).isdisjoint(groups)


SYSTEM = Actor(id="system", name="Lodge")
"""Lodge itself: automatic decisions, expiry, archiving."""
