"""Persistent identifiers: locally minted ARK- or handle-style names, and a DOI hook.

The prefix (`LODGE_IDENTIFIER_PREFIX`) is the NAAN and shoulder of an ARK
(`ark:/12345/x1`) or a handle prefix (`20.500.12345/`); it is checked when inventory
starts, so a typo stops the service instead of minting names that cannot resolve.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Protocol

from kernel.policy.text import user_pattern

log = logging.getLogger(__name__)

_ARK_PREFIX = user_pattern(r"^ark:/\d{5,}/[A-Za-z0-9=~*+@_$.-]*$")
_HANDLE_PREFIX = user_pattern(r"^\d+(\.\d+)*/[A-Za-z0-9._-]*$")
_RESOLVER = user_pattern(r"^https?://[^/]+/(?=ark:)")


def check_prefix(prefix: str) -> str:
    if not (_ARK_PREFIX.match(prefix) or _HANDLE_PREFIX.match(prefix)):
        raise ValueError(
            f"LODGE_IDENTIFIER_PREFIX {prefix!r} is neither an ARK prefix "
            "(ark:/NAAN/shoulder) nor a handle prefix (20.500.NNNN/)"
        )
    return prefix


def mint(prefix: str, item_id: str) -> str:
    """Opaque and stable: 16 hex characters of the item's random id after the prefix."""
    return f"{check_prefix(prefix)}{item_id[:16]}"


def scheme(identifier: str) -> str:
    """What kind of identifier Lodge minted, in DataCite's words: `ARK` or `Handle`."""
    return "ARK" if identifier.lower().startswith("ark:") else "Handle"


def normalise(identifier: str) -> str:
    """The stored form of an identifier as people paste it: `ark:12345/x` (the newer
    ARK spelling) and `https://n2t.net/ark:/12345/x` both mean `ark:/12345/x`."""
    identifier = identifier.strip()
    identifier = _RESOLVER.sub("", identifier)
    if identifier.startswith("ark:") and not identifier.startswith("ark:/"):
        identifier = "ark:/" + identifier[4:]
    return identifier


class DoiRegistrar(Protocol):
    """What a site implements to register DOIs (DataCite, Crossref...) for new items.

    `register` gets the item as the contracts show it (`ItemView`) and the URL of its
    landing page, and returns the DOI it registered, or None to register none. It may
    raise: inventory retries the item_created handling and calls it again."""

    def register(self, item: dict[str, Any], landing_page: str) -> str | None: ...


class NoDois:
    """The default: no DOIs."""

    def register(self, item: dict[str, Any], landing_page: str) -> str | None:
        return None


def load_registrar(spec: str) -> DoiRegistrar:
    """`LODGE_DOI_REGISTRAR` as `package.module:ClassName`, made with no arguments."""
    if not spec:
        return NoDois()
    module, _, name = spec.partition(":")
    registrar: DoiRegistrar = getattr(importlib.import_module(module), name)()
    log.info("DOIs are registered by %s", spec)
    return registrar
