"""File rules shared by intake (at upload) and validation (in its report): one extension check."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any


def extension(filename: str) -> str:
    return PurePosixPath(filename).suffix.lower().lstrip(".")


def accepted_extensions(rules: dict[str, Any]) -> list[str]:
    return [ext.lower().lstrip(".") for ext in rules.get("allowed_extensions", [])]


def extension_refusal(filename: str, rules: dict[str, Any]) -> dict[str, Any] | None:
    """Why the profile refuses this file name's extension, as a message code and params."""
    accepted = accepted_extensions(rules)
    ext = extension(filename)
    if accepted and ext not in accepted:
        return {
            "code": "extension_not_accepted",
            "params": {"ext": ext or "?", "accepted": ", ".join("." + a for a in accepted)},
        }
    return None
