"""Who may have an item's files.

- open: everyone;
- campus: signed-in users, and anyone whose address is in `LODGE_CAMPUS_NETWORKS`;
- embargo: nobody before the date, everyone from the date on. The date is checked
  here at every download, so files open on time even if inventory's timer runs late.

The client's address is the socket's peer, or, when that peer is one of
`LODGE_TRUSTED_PROXIES`, the nearest address in X-Forwarded-For that is not a trusted
proxy: a header anyone could send is believed only from our own proxies.
"""
from __future__ import annotations

import ipaddress
from datetime import date
from functools import lru_cache

from services.common.config import get_settings


@lru_cache(maxsize=8)
def _networks(specs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _address(text: str | None):
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _within(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    settings = get_settings()
    proxies = _networks(settings.trusted_proxies)
    peer = _address(remote_addr)
    if not _within(peer, proxies) or not forwarded_for:
        return str(peer) if peer else None
    # right to left: the last hop our proxies did not add is the client
    for hop in reversed(forwarded_for.split(",")):
        address = _address(hop)
        if address is None:
            return None
        if not _within(address, proxies):
            return str(address)
    return str(peer)


def on_campus(address: str | None) -> bool:
    return _within(_address(address), _networks(get_settings().campus_networks))


def embargo_ended(item: dict, today: date | None = None) -> bool:
    until = item.get("embargo_until")
    return until is None or date.fromisoformat(until) <= (today or date.today())


def files_visible(item: dict, actor: dict | None, address: str | None = None) -> bool:
    """Open files for all, campus files on campus or signed in, embargoed ones after the
    date; a withdrawn item's for nobody."""
    if item.get("withdrawn_at"):
        return False
    if item["access"] == "campus":
        return actor is not None or on_campus(address)
    if item["access"] == "embargo":
        return embargo_ended(item)
    return item["access"] == "open"


def request_address(request) -> str | None:
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"))
