"""The staff dashboard: deposits by status, submissions and decisions per week as a chart
drawn on the server, the median time to a decision per profile, and the deposits staff
made on patrons' behalf, with who made them."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, g, render_template, request
from flask_babel import format_date
from flask_babel import gettext as _

from gateway.auth.guard import may, requires
from gateway.presenters.charts import duration_words, weekly_bars
from gateway.rpc import rpc
from kernel.contracts.deposits import DECIDED, STATUSES
from kernel.platform.config import get_settings
from kernel.policy.permissions import Action

staff_dashboard = Blueprint("staff_dashboard", __name__, url_prefix="/staff")

SPANS = (4, 12, 26, 52)
TOP_ITEMS = 5  # per collection, most viewed and most downloaded


def duration_label(seconds: float) -> str:
    amount, unit = duration_words(seconds)
    return {
        "seconds": _("%(n)s seconds", n=amount),
        "minutes": _("%(n)s minutes", n=amount),
        "hours": _("%(n)s hours", n=amount),
        "days": _("%(n)s days", n=amount),
    }[unit]


def series_names() -> dict[str, str]:
    return {
        "submitted": _("Submitted"),
        "approved": _("Approved"),
        "returned": _("Returned"),
        "declined": _("Declined"),
    }


@staff_dashboard.get("/dashboard")
@requires(Action.SEE_ALL_DEPOSITS)
def dashboard():
    weeks = request.args.get("weeks", 12, type=int)
    if weeks not in SPANS:
        weeks = 12
    with rpc() as services:
        figures = services.intake.deposit_statistics(actor=g.actor, weeks=weeks)
        profiles = services.intake.list_profiles(actor=g.actor, include_inactive=True)
        top_items = (
            services.inventory.top_items(actor=g.actor, limit=TOP_ITEMS)
            if may(Action.SEE_USAGE) and get_settings().usage.counting
            else None
        )
    names = {p["id"]: p["name"] for p in profiles}
    for week in figures["weeks"]:
        week["start"] = date.fromisoformat(week["week"])
        week["decided"] = sum(week[kind] for kind in DECIDED)
        week["label"] = format_date(week["start"], "d MMM yyyy")
    labels = [format_date(week["start"], "d MMM") for week in figures["weeks"]]
    chart = weekly_bars(figures["weeks"], labels, "submitted", list(DECIDED))
    slowest = max([t["median_seconds"] for t in figures["turnaround"]] or [0]) or 1
    turnaround = [
        {
            **t,
            "name": names.get(t["profile_id"], t["profile_id"]),
            "median": duration_label(t["median_seconds"]),
            "share": t["median_seconds"] / slowest,
        }
        for t in figures["turnaround"]
    ]
    totals = {kind: sum(w[kind] for w in figures["weeks"]) for kind in ("submitted", *DECIDED)}
    return render_template(
        "staff/dashboard.html",
        figures=figures,
        chart=chart,
        turnaround=turnaround,
        statuses=STATUSES,
        weeks=weeks,
        spans=SPANS,
        series=series_names(),
        totals=totals,
        profiles=names,
        since_label=format_date(date.fromisoformat(figures["since"]), "d MMMM yyyy"),
        top_items=top_items,
    )
