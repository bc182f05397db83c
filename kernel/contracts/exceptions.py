"""Domain errors shared by every service.

They cross RPC as themselves (nameko's deserialize_to_instance), so the web front
maps each class to one HTTP response.
"""

from typing import Any

from nameko.exceptions import deserialize_to_instance


class RefusedMessage(Exception):
    """An event its handler will never accept (e.g. one naming files it may not touch):
    dead-lettered with this reason at once, not retried."""


class LodgeError(Exception):
    code = "error"

    def __init__(self, message: str, fields: dict[str, Any] | None = None):
        super().__init__(message, fields or {})
        self.message = message
        self.fields = fields or {}

    def __str__(self) -> str:
        return self.message


@deserialize_to_instance
class InvalidInput(LodgeError):
    """Input failed a contract or a profile's rules; `fields` says which and why."""

    code = "invalid_input"


@deserialize_to_instance
class NotFound(LodgeError):
    code = "not_found"


@deserialize_to_instance
class Forbidden(LodgeError):
    code = "forbidden"


@deserialize_to_instance
class Conflict(LodgeError):
    """The object changed under the caller, or someone else acted first."""

    code = "conflict"


@deserialize_to_instance
class InvalidTransition(LodgeError):
    code = "invalid_transition"


@deserialize_to_instance
class TooLarge(LodgeError):
    code = "too_large"


@deserialize_to_instance
class QuotaExceeded(LodgeError):
    """A patron holds as many unfinished things (drafts, uploads) as a site setting allows."""

    code = "quota_exceeded"


@deserialize_to_instance
class Unavailable(LodgeError):
    """Something the call needs (its database connection) failed under it; the caller may
    try again shortly."""

    code = "unavailable"
