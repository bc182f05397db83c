"""Persistent identifiers: locally minted ARK- or handle-style names, and DOIs.

The prefix (`LODGE_IDENTIFIER_PREFIX`) is the NAAN and shoulder of an ARK
(`ark:/12345/x1`) or a handle prefix (`20.500.12345/`); it is checked when inventory
starts, so a typo stops the service instead of minting names that cannot resolve.
"""

from __future__ import annotations

from kernel.policy.text import user_pattern

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


def mint_doi(doi_prefix: str, item_id: str) -> str:
    """The item's DOI under the repository's DataCite prefix: the same 16 hex characters of
    its id as its identifier, so minting again for the same item gives the same DOI."""
    return f"{doi_prefix}/{item_id[:16]}"
