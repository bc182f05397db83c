"""Who may have an item's files."""
from __future__ import annotations

from datetime import date


def files_visible(item: dict, actor: dict | None) -> bool:
    """Open files for all, campus files for signed-in users, embargoed ones after the date;
    a withdrawn item's for nobody."""
    if item.get("withdrawn_at"):
        return False
    if item["access"] == "campus":
        return actor is not None
    if item["access"] == "embargo":
        until = item["embargo_until"]
        return until is None or date.fromisoformat(until) <= date.today()
    return item["access"] == "open"
