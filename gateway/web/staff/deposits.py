"""Every deposit, for staff: where each submission is now (DSpace #9598), filtered by status
and profile, searched by title or depositor, a page at a time."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request, url_for

from gateway.api.staff import all_deposits
from gateway.auth.guard import requires
from gateway.auth.patrons import MAX_QUERY
from gateway.rpc import rpc
from kernel.contracts.deposits import STATUSES
from kernel.policy.permissions import Action

staff_deposits = Blueprint("staff_deposits", __name__, url_prefix="/staff")

PER_PAGE = 25


@staff_deposits.get("/deposits")
@requires(Action.SEE_ALL_DEPOSITS)
def deposits():
    status = request.args.get("status") or None
    status = status if status in STATUSES else None
    words = (request.args.get("q") or "").strip()[:MAX_QUERY] or None
    page_number = min(max(request.args.get("page", 1, type=int), 1), 100000)
    with rpc() as services:
        profiles = services.intake.list_profiles(actor=g.actor, include_inactive=True)
        profile = request.args.get("profile") or None
        profile = profile if profile in {p["id"] for p in profiles} else None
        page = all_deposits(
            services, status=status, profile=profile, q=words, page=page_number, per_page=PER_PAGE
        )
    pages = max(1, -(-page["total"] // PER_PAGE))

    def page_url(number: int) -> str:
        return url_for(
            "staff_deposits.deposits", status=status, profile=profile, q=words, page=number
        )

    return render_template(
        "staff/deposits.html",
        page=page,
        pages=pages,
        status=status,
        profile=profile,
        words=words or "",
        statuses=STATUSES,
        profiles=sorted(profiles, key=lambda p: p["name"].casefold()),
        profile_names={p["id"]: p["name"] for p in profiles},
        page_url=page_url,
    )
