"""Who may have an item's files.

- open: everyone;
- campus: signed-in users, and anyone whose address is in `LODGE_CAMPUS_NETWORKS`;
- embargo: nobody before the date, everyone from the date on. The date is checked
  here at every download, so files open on time even if inventory's timer runs late.

The client's address is `request.remote_addr`, which gateway/http/proxies.py decides.
"""

from __future__ import annotations

from datetime import date

from gateway.http.proxies import networks, parse_address, within
from kernel.contracts.actors import Actor
from kernel.platform.config import get_settings


def on_campus(address: str | None) -> bool:
    return within(parse_address(address), networks(get_settings().network.campus_networks))


def embargo_ended(item: dict, today: date | None = None) -> bool:
    until = item.get("embargo_until")
    return until is None or date.fromisoformat(until) <= (today or date.today())


def files_visible(item: dict, actor: Actor | None, address: str | None = None) -> bool:
    """Open files for all, campus files on campus or signed in, embargoed ones after the
    date; a withdrawn item's for nobody."""
    if item.get("withdrawn_at"):
        return False
    if item["access"] == "campus":
        return actor is not None or on_campus(address)
    if item["access"] == "embargo":
        return embargo_ended(item)
    return item["access"] == "open"
