"""Who may do what: every route of the gateway × every kind of caller × ownership, with the
expected status, from one table. The table must name every route in `app.url_map`, so a
route added without a row fails this test.

Callers: anonymous; the patron who owns the deposit; another patron; an approver in the
profile's approver groups and one outside them; an approver in those groups who is asking
about the deposit they made themselves (they may look, never claim, edit, note or decide);
staff; a manager; an admin; and API tokens (of the admin) with each single scope. Another's
deposit is 404, never 403, so nothing leaks.
Browser pages ignore API tokens; a token's POST to a page has no CSRF token, so it is 400.

Who is allowed comes from the permission table (`kernel.policy.permissions`): each row names
the action its route needs, so a change to the table changes what this test expects.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from kernel.contracts.actors import Actor
from kernel.policy.permissions import POLICY, Action, can
from tests.support.system import csrf_token, expect, signed_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
OPEN_WORK = {
    "title": "Matrix",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Rows.",
    "date": "2026",
}
THESIS = {**OPEN_WORK, "degree": "Master"}

USERS = (
    "owner",
    "other",
    "approver_in",
    "approver_out",
    "approver_own",
    "staff",
    "manager",
    "admin",
)
TOKENS = ("token_deposit", "token_review", "token_manage")
CALLERS = ("anonymous",) + USERS + TOKENS
# the roles of each caller's account (lodge seed, and the `world` fixture's two approvers)
ROLES = {
    "owner": ("patron",),
    "other": ("patron",),
    "approver_in": ("approver",),
    "approver_out": ("approver",),
    "approver_own": ("approver",),
    "staff": ("staff",),
    "manager": ("manager", "approver"),
    "admin": ("admin",),
}
SIGN_INS = {
    "owner": "student",
    "other": "faculty",
    "approver_in": "approver",
    "approver_out": "outsider",
    "approver_own": "selfreviewer",
    "staff": "staff",
    "manager": "manager",
    "admin": "admin",
}


# --- building expectations -------------------------------------------------------------------


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


def allowed(action: Action | None, on_review: bool = False) -> tuple[str, ...]:
    """The users the permission table lets take `action` (None: every signed-in user).
    `on_review`: the route acts on the deposit in review, which for approver_own is their
    own (`World.review`)."""
    if action is None:
        return USERS

    def depositor(user: str) -> str | None:
        return ("approver_own" if user == "approver_own" else "owner") if on_review else None

    return tuple(
        user
        for user in USERS
        if can(Actor(id=user, roles=ROLES[user]), action, depositor_id=depositor(user))
    )


# who may act on the owner's draft as its depositor: the owner, and whom the table lets
AS_DEPOSITOR = ("owner", *allowed(Action.ACT_FOR_ANY_DEPOSITOR))


def as_depositor(status: int) -> dict[str, int]:
    return dict.fromkeys(AS_DEPOSITOR, status)


def api(
    action: Action | None, ok: int, denied: int = 403, on_review: bool = False, **special
) -> dict[str, int]:
    """A REST route that needs `action`: anonymous 401; users the table allows get `ok`,
    others `denied`; the admin's tokens get `ok` with a scope the table gives the action and
    403 without; `special` overrides single callers."""
    scopes = POLICY[action].scopes if action else ("deposit",)  # login_required's default
    may = allowed(action, on_review)
    table = {"anonymous": 401}
    table.update({user: ok if user in may else denied for user in USERS})
    table.update({k: v for k, v in special.items() if k not in TOKENS})
    table.update(
        {
            token: (table["admin"] if token in {f"token_{s}" for s in scopes} else 403)
            for token in TOKENS
        }
    )
    table.update({k: v for k, v in special.items() if k in TOKENS})
    return table


def page(
    action: Action | None,
    ok: int,
    denied: int = 403,
    post: bool = False,
    on_review: bool = False,
    **special,
) -> dict[str, int]:
    """A browser page that needs `action` (None: only a sign-in): anonymous is sent to sign
    in; tokens count for nothing here."""
    may = allowed(action, on_review)
    table = {"anonymous": 302}
    table.update({user: ok if user in may else denied for user in USERS})
    table.update(dict.fromkeys(TOKENS, 400 if post else 302))
    table.update(special)
    return table


@dataclass
class Row:
    method: str
    rule: str
    expected: dict[str, int]
    path: Callable[[World, str], str]
    body: Callable[[World, str], dict] | None = None
    form: bool = False  # a browser form post rather than JSON
    after: Callable[[World, str, requests.Response], None] | None = None
    fresh_session: bool = False  # the request ends the caller's session
    headers: dict[str, str] = field(default_factory=dict)


def sword_route(ok: int) -> dict[str, int]:
    """SWORD takes a token with the deposit scope only: a session counts for nothing (401),
    a token of another scope is refused (403)."""
    table = dict.fromkeys(("anonymous", *USERS), 401)
    table.update(dict.fromkeys(TOKENS, 403))
    table["token_deposit"] = ok
    return table


def tus_creation() -> dict[str, str]:
    return {
        "Tus-Resumable": "1.0.0",
        "Upload-Length": str(len(PDF)),
        "Upload-Metadata": "filename " + base64.b64encode(b"tus.pdf").decode(),
    }


# --- the world the requests act on -----------------------------------------------------------


@dataclass
class World:
    system: object
    callers: dict[str, requests.Session] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self):
        return self.system.client("student")

    def review(self, caller: str) -> str:
        """The deposit in review a caller asks about: approver_own asks about their own."""
        return self.ids["own_review" if caller == "approver_own" else "review"]

    def review_file(self, caller: str) -> str:
        return self.ids["own_review_file" if caller == "approver_own" else "review_file"]

    def fresh_draft(self, profile="open-works", metadata=OPEN_WORK) -> str:
        return self.owner.create_deposit(profile, metadata)["id"]

    def sword_draft(self, caller: str) -> str:
        """A fresh draft for the one caller whose SWORD call may change it; others get the
        shared one, which their refused call leaves alone."""
        return self.fresh_draft() if caller == "token_deposit" else self.ids["draft"]

    def fresh_file(self) -> tuple[str, str]:
        """A file on a draft of its own: a profile allows only so many files per deposit."""
        deposit_id = self.fresh_draft()
        return deposit_id, self.owner.upload(deposit_id, "extra.pdf", PDF)["id"]

    def fresh_upload(self, deposit_id: str | None = None) -> tuple[str, str]:
        """A tus upload the owner has begun, and its deposit."""
        deposit_id = deposit_id or self.ids["draft"]
        response = self.owner.post(f"/api/v1/deposits/{deposit_id}/uploads", headers=tus_creation())
        expect(response, 201)
        return deposit_id, response.headers["Location"].rsplit("/", 1)[1]

    def fresh_token_of(self, username: str) -> str:
        """A token of `username`, by way of the admin's token page, and its id."""
        admin = self.callers["admin"]
        before = {*self._token_ids()}
        expect(
            admin.post(
                f"{self.system.base_url}/staff/tokens",
                data={
                    "csrf_token": self.csrf["admin"],
                    "username": username,
                    "name": "matrix",
                    "scopes": ["deposit"],
                },
            ),
            201,
        )
        return ({*self._token_ids()} - before).pop()

    def account_id(self, username: str) -> str:
        engine = create_engine(self.system.database_urls["gateway"])
        try:
            with engine.connect() as connection:
                return connection.exec_driver_sql(
                    "SELECT id FROM users WHERE username = %s", (username,)
                ).scalar_one()
        finally:
            engine.dispose()

    def _token_ids(self):
        engine = create_engine(self.system.database_urls["gateway"])
        try:
            with engine.connect() as connection:
                return [
                    row[0]
                    for row in connection.exec_driver_sql(
                        "SELECT id FROM api_tokens WHERE revoked_at IS NULL"
                    )
                ]
        finally:
            engine.dispose()


def _release(world: World, caller: str, response: requests.Response) -> None:
    """Put a claimed review back, so the next caller finds it open (a page redirects)."""
    if response.status_code in (200, 302):
        released = world.system.client("manager").post(
            f"/api/v1/reviews/{world.ids['review']}/actions/release"
        )
        # 409: this call left nothing claimed
        assert released.status_code in (200, 409), released.text


D, F = "/api/v1/deposits/<deposit_id>", "/deposits/<deposit_id>"
SW = "/sword/deposits/<deposit_id>"

ROUTES: list[Row] = [
    # --- REST API ---
    Row("GET", "/api/v1/openapi.json", everyone(200), lambda w, c: "/api/v1/openapi.json"),
    Row("GET", "/api/v1/asyncapi.json", everyone(200), lambda w, c: "/api/v1/asyncapi.json"),
    Row(
        "GET",
        "/schemas/events/<cloudevent_type>.json",
        everyone(200),
        lambda w, c: "/schemas/events/org.lodge.deposit.submitted.v1.json",
    ),
    Row("GET", "/api/v1/profiles", api(Action.DEPOSIT, 200), lambda w, c: "/api/v1/profiles"),
    Row(
        "POST",
        "/api/v1/profiles",
        api(Action.MANAGE_PROFILES, 422),
        lambda w, c: "/api/v1/profiles",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/api/v1/profiles/<profile_id>",
        api(Action.DEPOSIT, 200, other=403),
        lambda w, c: "/api/v1/profiles/thesis",
    ),
    Row(
        "PUT",
        "/api/v1/profiles/<profile_id>",
        api(Action.MANAGE_PROFILES, 422),
        lambda w, c: "/api/v1/profiles/thesis",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/api/v1/profiles/<profile_id>/versions",
        api(Action.MANAGE_PROFILES, 200),
        lambda w, c: "/api/v1/profiles/thesis/versions",
    ),
    # the collection tree is public, as its pages and OAI sets are
    Row("GET", "/api/v1/collections", everyone(200), lambda w, c: "/api/v1/collections"),
    Row(
        "POST",
        "/api/v1/deposits",
        api(Action.DEPOSIT, 422),
        lambda w, c: "/api/v1/deposits",
        body=lambda w, c: {},
    ),
    Row("GET", "/api/v1/deposits", api(Action.DEPOSIT, 200), lambda w, c: "/api/v1/deposits"),
    Row(
        "GET",
        D,
        api(Action.DEPOSIT, 200, other=404),
        lambda w, c: f"/api/v1/deposits/{w.ids['draft']}",
    ),
    Row(
        "PATCH",
        D,
        api(Action.DEPOSIT, 403, other=404, **as_depositor(200)),
        lambda w, c: f"/api/v1/deposits/{w.ids['draft']}",
        body=lambda w, c: {"metadata": OPEN_WORK},
    ),
    Row(
        "POST",
        D + "/actions/<action>",
        api(Action.DEPOSIT, 403, other=404, **as_depositor(200)),
        lambda w, c: (
            f"/api/v1/deposits/"
            f"{w.fresh_draft() if c in (*AS_DEPOSITOR, 'token_deposit') else w.ids['draft']}"
            "/actions/withdraw"
        ),
    ),
    Row(
        "POST",
        D + "/files",
        api(Action.DEPOSIT, 403, other=404, **as_depositor(201)),
        lambda w, c: f"/api/v1/deposits/{w.ids['draft']}/files?filename=more.pdf",
    ),
    Row(
        "DELETE",
        D + "/files/<file_id>",
        api(Action.DEPOSIT, 403, other=404, **as_depositor(204)),
        lambda w, c: "/api/v1/deposits/{}/files/{}".format(*w.fresh_file()),
    ),
    Row("GET", "/api/v1/reviews", api(Action.REVIEW, 200), lambda w, c: "/api/v1/reviews"),
    Row(
        "POST",
        "/api/v1/reviews/<deposit_id>/actions/<action>",
        api(Action.DECIDE, 200, approver_out=403, on_review=True),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}/actions/claim",
        body=lambda w, c: {},
        after=_release,
    ),
    Row("GET", "/api/v1/reasons", api(Action.REVIEW, 200), lambda w, c: "/api/v1/reasons"),
    Row(
        "GET",
        "/api/v1/items/<item_id>",
        everyone(200),
        lambda w, c: f"/api/v1/items/{w.ids['item']}",
    ),
    Row(
        "GET",
        "/api/v1/items/<item_id>/files/<file_id>",
        everyone(200),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/files/{w.ids['item_file']}",
    ),
    # a file of a deposit not yet published is reachable by no one, through any item
    Row(
        "GET",
        "/api/v1/items/<item_id>/files/<file_id>",
        everyone(404),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/files/{w.ids['unpublished_file']}",
    ),
    # --- REST API: letters, quota, tus uploads ---
    Row("GET", "/api/v1/quota", api(Action.DEPOSIT, 200), lambda w, c: "/api/v1/quota"),
    Row(
        "GET",
        D + "/letters",
        api(Action.DEPOSIT, 200, other=404),
        lambda w, c: f"/api/v1/deposits/{w.ids['draft']}/letters",
    ),
    Row(
        "POST",
        D + "/uploads",
        api(Action.DEPOSIT, 403, other=404, **as_depositor(201)),
        lambda w, c: f"/api/v1/deposits/{w.ids['draft']}/uploads",
        headers=tus_creation(),
    ),
    # an upload under way is its uploader's alone
    Row(
        "GET",
        D + "/uploads/<upload_id>",
        api(Action.DEPOSIT, 404, owner=200),
        lambda w, c: f"/api/v1/deposits/{w.ids['draft']}/uploads/{w.ids['upload']}",
    ),
    Row(
        "PATCH",
        D + "/uploads/<upload_id>",
        api(Action.DEPOSIT, 404, owner=415),
        lambda w, c: f"/api/v1/deposits/{w.ids['draft']}/uploads/{w.ids['upload']}",
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
    ),
    Row(
        "DELETE",
        D + "/uploads/<upload_id>",
        api(Action.DEPOSIT, 404, owner=204),
        lambda w, c: "/api/v1/deposits/{}/uploads/{}".format(*w.fresh_upload()),
        headers={"Tus-Resumable": "1.0.0"},
    ),
    # --- REST API: reviews ---
    Row(
        "GET",
        "/api/v1/reviews/queue",
        api(Action.REVIEW, 200),
        lambda w, c: "/api/v1/reviews/queue",
    ),
    Row(
        "GET",
        "/api/v1/reviews/<deposit_id>",
        api(Action.REVIEW, 200, approver_out=403),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}",
    ),
    Row(
        "POST",
        "/api/v1/reviews/bulk",
        api(Action.DECIDE, 422),
        lambda w, c: "/api/v1/reviews/bulk",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/api/v1/reviews/<deposit_id>/colleagues",
        api(Action.REVIEW, 200, approver_out=403),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}/colleagues",
    ),
    Row(
        "GET",
        "/api/v1/reviews/<deposit_id>/notes",
        api(Action.REVIEW, 200, approver_out=403),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}/notes",
    ),
    Row(
        "POST",
        "/api/v1/reviews/<deposit_id>/notes",
        api(Action.DECIDE, 201, approver_out=403, on_review=True),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}/notes",
        body=lambda w, c: {"text": f"A note from {c}."},
    ),
    Row(
        "PUT",
        "/api/v1/reviews/<deposit_id>/metadata",
        api(Action.DECIDE, 200, approver_out=403, on_review=True),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}/metadata",
        body=lambda w, c: {"metadata": THESIS},
        after=_release,
    ),
    Row(
        "POST",
        "/api/v1/reviews/<deposit_id>/letter-preview",
        api(Action.DECIDE, 200, approver_out=403, on_review=True),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}/letter-preview",
        body=lambda w, c: {"decision": "approve"},
    ),
    Row(
        "GET",
        "/api/v1/reviews/<deposit_id>/files/<file_id>",
        api(Action.REVIEW, 200, approver_out=403),
        lambda w, c: f"/api/v1/reviews/{w.review(c)}/files/{w.review_file(c)}",
    ),
    Row(
        "PUT",
        "/api/v1/reasons/<kind>/<code>",
        api(Action.MANAGE_REASONS, 422),
        lambda w, c: "/api/v1/reasons/decline/matrix",
        body=lambda w, c: {},
    ),
    Row(
        "DELETE",
        "/api/v1/reasons/<kind>/<code>",
        api(Action.MANAGE_REASONS, 404),
        lambda w, c: "/api/v1/reasons/decline/no-such-reason",
    ),
    # --- REST API: the staff desk ---
    Row(
        "GET",
        "/api/v1/staff/patrons",
        api(Action.MEDIATE, 200),
        lambda w, c: "/api/v1/staff/patrons?q=sam",
    ),
    Row(
        "GET",
        "/api/v1/staff/deposits",
        api(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: "/api/v1/staff/deposits",
    ),
    # reactivating an active account changes nothing, so every caller may try it
    Row(
        "PATCH",
        "/api/v1/staff/accounts/<user_id>",
        api(Action.MANAGE_ACCOUNTS, 200),
        lambda w, c: f"/api/v1/staff/accounts/{w.account_id('faculty')}",
        body=lambda w, c: {"active": True},
    ),
    Row(
        "GET",
        "/api/v1/staff/statistics",
        api(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: "/api/v1/staff/statistics",
    ),
    Row(
        "GET",
        "/api/v1/staff/usage/items",
        api(Action.SEE_USAGE, 200),
        lambda w, c: "/api/v1/staff/usage/items?begin=2026-01&end=2026-12",
    ),
    # --- REST API: campus systems (managers); nothing here changes the registered one ---
    Row(
        "GET",
        "/api/v1/staff/systems",
        api(Action.MANAGE_SYSTEMS, 200),
        lambda w, c: "/api/v1/staff/systems",
    ),
    Row(
        "POST",
        "/api/v1/staff/systems",
        api(Action.MANAGE_SYSTEMS, 422),
        lambda w, c: "/api/v1/staff/systems",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/api/v1/staff/systems/<system_id>",
        api(Action.MANAGE_SYSTEMS, 200),
        lambda w, c: f"/api/v1/staff/systems/{w.ids['system']}",
    ),
    Row(
        "PATCH",
        "/api/v1/staff/systems/<system_id>",
        api(Action.MANAGE_SYSTEMS, 200),
        lambda w, c: f"/api/v1/staff/systems/{w.ids['system']}",
        body=lambda w, c: {},
    ),
    Row(
        "POST",
        "/api/v1/staff/systems/<system_id>/tokens",
        api(Action.MANAGE_SYSTEMS, 422),
        lambda w, c: f"/api/v1/staff/systems/{w.ids['system']}/tokens",
        body=lambda w, c: {},
    ),
    # a new secret replaces the last: nothing the other rows look at
    Row(
        "POST",
        "/api/v1/staff/systems/<system_id>/webhook-secret",
        api(Action.MANAGE_SYSTEMS, 201),
        lambda w, c: f"/api/v1/staff/systems/{w.ids['system']}/webhook-secret",
    ),
    Row(
        "DELETE",
        "/api/v1/staff/systems/<system_id>/tokens/<token_id>",
        api(Action.MANAGE_SYSTEMS, 404),
        lambda w, c: f"/api/v1/staff/systems/{w.ids['system']}/tokens/no-such-token",
    ),
    # --- REST API: the campus door: a registered system's token or signature, never a
    # session; the admin's tokens are no system's (or lack the deposit scope) ---
    Row(
        "POST",
        "/api/v1/campus/events",
        {**everyone(401), **dict.fromkeys(TOKENS, 403)},
        lambda w, c: "/api/v1/campus/events",
        body=lambda w, c: {},
    ),
    # --- REST API: dead letters (admins); there is no letter 999999, so 404 once allowed ---
    Row(
        "GET",
        "/api/v1/staff/dead-letters",
        api(Action.MANAGE_DEAD_LETTERS, 200),
        lambda w, c: "/api/v1/staff/dead-letters",
    ),
    Row(
        "GET",
        "/api/v1/staff/dead-letters/<service>",
        api(Action.MANAGE_DEAD_LETTERS, 200),
        lambda w, c: "/api/v1/staff/dead-letters/intake",
    ),
    Row(
        "GET",
        "/api/v1/staff/dead-letters/<service>/<int:letter_id>",
        api(Action.MANAGE_DEAD_LETTERS, 404),
        lambda w, c: "/api/v1/staff/dead-letters/intake/999999",
    ),
    Row(
        "POST",
        "/api/v1/staff/dead-letters/<service>/<int:letter_id>/replay",
        api(Action.MANAGE_DEAD_LETTERS, 404),
        lambda w, c: "/api/v1/staff/dead-letters/letters/999999/replay",
    ),
    Row(
        "POST",
        "/api/v1/staff/dead-letters/<service>/<int:letter_id>/drop",
        api(Action.MANAGE_DEAD_LETTERS, 404),
        lambda w, c: "/api/v1/staff/dead-letters/inventory/999999/drop",
        body=lambda w, c: {"note": "matrix"},
    ),
    # --- REST API: inventory ---
    Row("GET", "/api/v1/search", everyone(200), lambda w, c: "/api/v1/search?q=matrix"),
    Row(
        "POST",
        "/api/v1/collections",
        api(Action.MANAGE_COLLECTIONS, 422),
        lambda w, c: "/api/v1/collections",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/api/v1/collections/<collection_id>",
        everyone(200),
        lambda w, c: "/api/v1/collections/theses",
    ),
    Row(
        "PATCH",
        "/api/v1/collections/<collection_id>",
        api(Action.MANAGE_COLLECTIONS, 422),
        lambda w, c: "/api/v1/collections/theses",
        body=lambda w, c: {"name": ""},
    ),
    # a profile still puts its items there
    Row(
        "DELETE",
        "/api/v1/collections/<collection_id>",
        api(Action.MANAGE_COLLECTIONS, 409),
        lambda w, c: "/api/v1/collections/theses",
    ),
    Row(
        "GET",
        "/api/v1/collections/<collection_id>/items",
        everyone(200),
        lambda w, c: "/api/v1/collections/open-works/items",
    ),
    Row("GET", "/api/v1/fixity", api(Action.SEE_ALL_DEPOSITS, 200), lambda w, c: "/api/v1/fixity"),
    Row(
        "POST",
        "/api/v1/fixity/audit",
        api(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: "/api/v1/fixity/audit",
    ),
    Row(
        "GET",
        "/api/v1/items/<item_id>/events",
        api(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/events",
    ),
    Row(
        "POST",
        "/api/v1/items/<item_id>/actions/withdraw",
        api(Action.WITHDRAW_ITEMS, 422),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/actions/withdraw",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/api/v1/items/<item_id>/bag",
        api(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/bag",
    ),
    Row(
        "POST",
        "/api/v1/items/<item_id>/bag",
        api(Action.EXPORT_BAGS, 202),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/bag",
        body=lambda w, c: {},
    ),
    # a new version of the owner's item: its owner and staff (the admin's token finds the
    # admin's new version already started); managers correct it (an empty body is refused)
    Row(
        "POST",
        "/api/v1/items/<item_id>/versions",
        api(Action.VERSION_ANY_ITEM, 201, owner=201, token_deposit=409),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/versions",
    ),
    Row(
        "POST",
        "/api/v1/items/<item_id>/corrections",
        api(Action.CORRECT_ITEMS, 422),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/corrections",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/api/v1/items/<item_id>/corrections",
        api(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: f"/api/v1/items/{w.ids['item']}/corrections",
    ),
    # --- portal pages ---
    Row("GET", "/", everyone(200), lambda w, c: "/"),  # visitors see Browse and Search
    Row("GET", "/deposits/new", page(Action.DEPOSIT, 200), lambda w, c: "/deposits/new"),
    Row(
        "POST",
        "/deposits/new",
        page(Action.DEPOSIT, 404, post=True),
        lambda w, c: "/deposits/new",
        body=lambda w, c: {"profile_id": "no-such-profile"},
        form=True,
    ),
    Row("GET", F, page(Action.DEPOSIT, 200, other=404), lambda w, c: f"/deposits/{w.ids['draft']}"),
    Row(
        "GET",
        F + "/edit",
        page(Action.DEPOSIT, 302, other=404, **as_depositor(200)),
        lambda w, c: f"/deposits/{w.ids['draft']}/edit",
    ),
    Row(
        "POST",
        F + "/edit",
        page(Action.DEPOSIT, 302, post=True, other=404),
        lambda w, c: f"/deposits/{w.fresh_draft() if c in AS_DEPOSITOR else w.ids['draft']}/edit",
        body=lambda w, c: {"m-title": "Changed"},
        form=True,
    ),
    Row(
        "POST",
        F + "/<action>",
        page(Action.DEPOSIT, 403, post=True, other=404, **as_depositor(302)),
        lambda w, c: (
            f"/deposits/{w.fresh_draft() if c in AS_DEPOSITOR else w.ids['draft']}/withdraw"
        ),
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        F + "/files/<file_id>/remove",
        page(Action.DEPOSIT, 403, post=True, other=404, **as_depositor(302)),
        lambda w, c: "/deposits/{}/files/{}/remove".format(*w.fresh_file()),
        body=lambda w, c: {},
        form=True,
    ),
    Row("GET", "/items/<item_id>", everyone(200), lambda w, c: f"/items/{w.ids['item']}"),
    Row(
        "GET",
        "/items/<item_id>/export/<format_key>",
        everyone(200),
        lambda w, c: f"/items/{w.ids['item']}/export/ris",
    ),
    Row(
        "GET",
        "/items/<item_id>/linkset",
        everyone(200),
        lambda w, c: f"/items/{w.ids['item']}/linkset",
    ),
    # --- SWORD v2: the token with the deposit scope acts on drafts of its own making
    # (a fresh one, where the call changes it); without a file name a file body is refused
    Row("GET", "/sword/servicedocument", sword_route(200), lambda w, c: "/sword/servicedocument"),
    Row(
        "POST",
        "/sword/collections/<profile_id>",
        sword_route(400),
        lambda w, c: "/sword/collections/open-works",
    ),
    Row("GET", SW, sword_route(200), lambda w, c: f"/sword/deposits/{w.ids['draft']}"),
    *(
        Row(method, SW, sword_route(ok), lambda w, c: f"/sword/deposits/{w.sword_draft(c)}")
        for method, ok in (("PUT", 200), ("POST", 200), ("DELETE", 204))
    ),
    Row(
        "GET",
        SW + "/media",
        sword_route(200),
        lambda w, c: f"/sword/deposits/{w.ids['draft']}/media",
    ),
    *(
        Row(
            method,
            SW + "/media",
            sword_route(ok),
            lambda w, c: f"/sword/deposits/{w.sword_draft(c)}/media",
        )
        for method, ok in (("PUT", 400), ("POST", 400), ("DELETE", 204))
    ),
    Row(
        "GET",
        SW + "/media/<file_id>",
        sword_route(405),
        lambda w, c: f"/sword/deposits/{w.ids['draft']}/media/none",
    ),
    Row(
        "DELETE",
        SW + "/media/<file_id>",
        sword_route(204),
        lambda w, c: "/sword/deposits/{}/media/{}".format(
            *(w.fresh_file() if c == "token_deposit" else (w.ids["draft"], "none"))
        ),
    ),
    *(
        Row(
            "GET",
            SW + f"/statement.{kind}",
            sword_route(200),
            lambda w, c, kind=kind: f"/sword/deposits/{w.ids['draft']}/statement.{kind}",
        )
        for kind in ("atom", "rdf")
    ),
    # --- public pages and OAI-PMH ---
    Row("GET", "/id/<path:identifier>", everyone(302), lambda w, c: f"/id/{w.ids['identifier']}"),
    Row("GET", "/collections", everyone(200), lambda w, c: "/collections"),
    Row(
        "GET", "/collections/<collection_id>", everyone(200), lambda w, c: "/collections/open-works"
    ),
    Row("GET", "/search", everyone(200), lambda w, c: "/search?q=matrix"),
    Row("GET", "/oai", everyone(200), lambda w, c: "/oai?verb=Identify"),
    Row(
        "POST",
        "/oai",
        everyone(200),
        lambda w, c: "/oai",
        body=lambda w, c: {"verb": "Identify"},
        form=True,
    ),
    # what crawlers read: the same for everyone
    Row("GET", "/robots.txt", everyone(200), lambda w, c: "/robots.txt"),
    Row("GET", "/sitemap.xml", everyone(200), lambda w, c: "/sitemap.xml"),
    Row("GET", "/sitemaps/<int:number>.xml", everyone(200), lambda w, c: "/sitemaps/1.xml"),
    # a manager withdraws an item; without a reason nothing happens
    Row(
        "POST",
        "/items/<item_id>/withdraw",
        page(Action.WITHDRAW_ITEMS, 302, post=True),
        lambda w, c: f"/items/{w.ids['item']}/withdraw",
        body=lambda w, c: {},
        form=True,
    ),
    # the landing page's "Start a new version": to the editor, or to the version already
    # started (the API row above started one for each who may)
    Row(
        "POST",
        "/items/<item_id>/new-version",
        page(Action.VERSION_ANY_ITEM, 302, post=True, owner=302),
        lambda w, c: f"/items/{w.ids['item']}/new-version",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "GET",
        "/staff/items/<item_id>/correct",
        page(Action.CORRECT_ITEMS, 200),
        lambda w, c: f"/staff/items/{w.ids['item']}/correct",
    ),
    # an empty correction changes nothing and is refused
    Row(
        "POST",
        "/staff/items/<item_id>/correct",
        page(Action.CORRECT_ITEMS, 422, post=True),
        lambda w, c: f"/staff/items/{w.ids['item']}/correct",
        body=lambda w, c: {},
        form=True,
    ),
    # --- sign-in, account and tokens ---
    Row("GET", "/login", everyone(200), lambda w, c: "/login"),
    Row(
        "POST",
        "/login",
        {**everyone(401), **dict.fromkeys(TOKENS, 400)},
        lambda w, c: "/login",
        body=lambda w, c: {"username": f"nobody-{uuid.uuid4().hex[:6]}", "password": "x"},
        form=True,
    ),
    Row(
        "POST",
        "/logout",
        {**everyone(302), **dict.fromkeys(TOKENS, 400)},
        lambda w, c: "/logout",
        body=lambda w, c: {},
        form=True,
        fresh_session=True,
    ),
    Row(
        "POST",
        "/language",
        {**everyone(302), **dict.fromkeys(TOKENS, 400)},
        lambda w, c: "/language",
        body=lambda w, c: {"locale": "en"},
        form=True,
    ),
    Row("GET", "/login/institution", everyone(302), lambda w, c: "/login/institution"),
    Row(
        "GET",
        "/login/institution/callback",
        everyone(400),
        lambda w, c: "/login/institution/callback?code=forged&state=forged",
    ),
    Row("GET", "/saml/metadata", everyone(200), lambda w, c: "/saml/metadata"),
    # two identity providers: the choice of institution
    Row("GET", "/saml/login", everyone(200), lambda w, c: "/saml/login"),
    # a response from no identity provider, answering no request of this browser
    Row(
        "POST",
        "/saml/acs",
        everyone(400),
        lambda w, c: "/saml/acs",
        body=lambda w, c: {"SAMLResponse": base64.b64encode(b"<forged/>").decode()},
        form=True,
    ),
    Row("GET", "/account/tokens", page(None, 200), lambda w, c: "/account/tokens"),
    Row(
        "POST",
        "/account/tokens",
        page(None, 422, post=True),
        lambda w, c: "/account/tokens",
        body=lambda w, c: {"name": "no scopes"},
        form=True,
    ),
    Row(
        "POST",
        "/account/tokens/<token_id>/revoke",
        page(None, 404, post=True, owner=302),
        lambda w, c: f"/account/tokens/{w.fresh_token_of('student')}/revoke",
        body=lambda w, c: {},
        form=True,
    ),
    # --- staff pages ---
    Row(
        "GET", "/staff/profiles", page(Action.MANAGE_PROFILES, 200), lambda w, c: "/staff/profiles"
    ),
    Row(
        "GET",
        "/staff/profiles/new",
        page(Action.MANAGE_PROFILES, 200),
        lambda w, c: "/staff/profiles/new",
    ),
    Row(
        "POST",
        "/staff/profiles/new",
        page(Action.MANAGE_PROFILES, 422, post=True),
        lambda w, c: "/staff/profiles/new",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "GET",
        "/staff/profiles/<profile_id>",
        page(Action.MANAGE_PROFILES, 200),
        lambda w, c: "/staff/profiles/thesis",
    ),
    Row(
        "POST",
        "/staff/profiles/<profile_id>",
        page(Action.MANAGE_PROFILES, 422, post=True),
        lambda w, c: "/staff/profiles/thesis",
        body=lambda w, c: {},
        form=True,
    ),
    Row("GET", "/staff/tokens", page(Action.MANAGE_ACCOUNTS, 200), lambda w, c: "/staff/tokens"),
    Row(
        "POST",
        "/staff/tokens",
        page(Action.MANAGE_ACCOUNTS, 422, post=True),
        lambda w, c: "/staff/tokens",
        body=lambda w, c: {"username": ""},
        form=True,
    ),
    Row(
        "POST",
        "/staff/tokens/<token_id>/revoke",
        page(Action.MANAGE_ACCOUNTS, 302, post=True),
        lambda w, c: f"/staff/tokens/{w.fresh_token_of('faculty')}/revoke",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "GET", "/staff/accounts", page(Action.MANAGE_ACCOUNTS, 200), lambda w, c: "/staff/accounts"
    ),
    Row("GET", "/staff/systems", page(Action.MANAGE_SYSTEMS, 200), lambda w, c: "/staff/systems"),
    Row(
        "POST",
        "/staff/systems",
        page(Action.MANAGE_SYSTEMS, 422, post=True),
        lambda w, c: "/staff/systems",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "GET",
        "/staff/systems/<system_id>",
        page(Action.MANAGE_SYSTEMS, 200),
        lambda w, c: f"/staff/systems/{w.ids['system']}",
    ),
    # an empty label is refused: nothing changes
    Row(
        "POST",
        "/staff/systems/<system_id>",
        page(Action.MANAGE_SYSTEMS, 422, post=True),
        lambda w, c: f"/staff/systems/{w.ids['system']}",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        "/staff/systems/<system_id>/tokens",
        page(Action.MANAGE_SYSTEMS, 422, post=True),
        lambda w, c: f"/staff/systems/{w.ids['system']}/tokens",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        "/staff/systems/<system_id>/webhook-secret",
        page(Action.MANAGE_SYSTEMS, 201, post=True),
        lambda w, c: f"/staff/systems/{w.ids['system']}/webhook-secret",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        "/staff/systems/<system_id>/tokens/<token_id>/revoke",
        page(Action.MANAGE_SYSTEMS, 404, post=True),
        lambda w, c: f"/staff/systems/{w.ids['system']}/tokens/no-such-token/revoke",
        body=lambda w, c: {},
        form=True,
    ),
    # reactivating an active system changes nothing
    Row(
        "POST",
        "/staff/systems/<system_id>/active",
        page(Action.MANAGE_SYSTEMS, 302, post=True),
        lambda w, c: f"/staff/systems/{w.ids['system']}/active",
        body=lambda w, c: {"active": "true"},
        form=True,
    ),
    Row(
        "GET",
        "/staff/dead-letters",
        page(Action.MANAGE_DEAD_LETTERS, 200),
        lambda w, c: "/staff/dead-letters",
    ),
    Row(
        "GET",
        "/staff/dead-letters/<service>/<int:letter_id>",
        page(Action.MANAGE_DEAD_LETTERS, 404),
        lambda w, c: "/staff/dead-letters/approval/999999",
    ),
    Row(
        "POST",
        "/staff/dead-letters/<service>/<int:letter_id>/replay",
        page(Action.MANAGE_DEAD_LETTERS, 404, post=True),
        lambda w, c: "/staff/dead-letters/validation/999999/replay",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        "/staff/dead-letters/<service>/<int:letter_id>/drop",
        page(Action.MANAGE_DEAD_LETTERS, 404, post=True),
        lambda w, c: "/staff/dead-letters/intake/999999/drop",
        body=lambda w, c: {"note": "matrix"},
        form=True,
    ),
    Row(
        "POST",
        "/staff/accounts/<user_id>",
        page(Action.MANAGE_ACCOUNTS, 302, post=True),
        lambda w, c: f"/staff/accounts/{w.account_id('faculty')}",
        body=lambda w, c: {"active": "true"},
        form=True,
    ),
    Row(
        "GET",
        "/staff/dashboard",
        page(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: "/staff/dashboard",
    ),
    Row(
        "GET", "/staff/deposits", page(Action.SEE_ALL_DEPOSITS, 200), lambda w, c: "/staff/deposits"
    ),
    Row("GET", "/staff/mediated", page(Action.MEDIATE, 200), lambda w, c: "/staff/mediated"),
    Row(
        "POST",
        "/staff/mediated",
        page(Action.MEDIATE, 422, post=True),
        lambda w, c: "/staff/mediated",
        body=lambda w, c: {},
        form=True,
    ),
    Row("GET", "/staff/queue", page(Action.REVIEW, 200), lambda w, c: "/staff/queue"),
    # nothing chosen: back to the queue with a message
    Row(
        "POST",
        "/staff/queue/bulk",
        page(Action.DECIDE, 302, post=True),
        lambda w, c: "/staff/queue/bulk",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "GET",
        "/staff/reviews/<deposit_id>",
        page(Action.REVIEW, 200, approver_out=403),
        lambda w, c: f"/staff/reviews/{w.review(c)}",
    ),
    Row(
        "GET",
        "/staff/reviews/<deposit_id>/files/<file_id>",
        page(Action.REVIEW, 200, approver_out=403),
        lambda w, c: f"/staff/reviews/{w.review(c)}/files/{w.review_file(c)}",
    ),
    Row(
        "POST",
        "/staff/reviews/<deposit_id>/task",
        page(Action.DECIDE, 302, approver_out=403, on_review=True, post=True),
        lambda w, c: f"/staff/reviews/{w.review(c)}/task",
        body=lambda w, c: {"action": "claim"},
        form=True,
        after=_release,
    ),
    Row(
        "POST",
        "/staff/reviews/<deposit_id>/notes",
        page(Action.DECIDE, 302, approver_out=403, on_review=True, post=True),
        lambda w, c: f"/staff/reviews/{w.review(c)}/notes",
        body=lambda w, c: {"text": f"A note from {c}."},
        form=True,
    ),
    Row(
        "POST",
        "/staff/reviews/<deposit_id>/metadata",
        page(Action.DECIDE, 422, approver_out=403, on_review=True, post=True),
        lambda w, c: f"/staff/reviews/{w.review(c)}/metadata",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        "/staff/reviews/<deposit_id>/decision",
        page(Action.DECIDE, 200, approver_out=403, on_review=True, post=True),
        lambda w, c: f"/staff/reviews/{w.review(c)}/decision",
        body=lambda w, c: {"decision": "approve"},
        form=True,
    ),  # the first step: the letter
    Row("GET", "/staff/reasons", page(Action.MANAGE_REASONS, 200), lambda w, c: "/staff/reasons"),
    Row(
        "POST",
        "/staff/reasons",
        page(Action.MANAGE_REASONS, 422, post=True),
        lambda w, c: "/staff/reasons",
        body=lambda w, c: {},
        form=True,
    ),
    Row("GET", "/staff/letters", page(Action.MANAGE_LETTERS, 200), lambda w, c: "/staff/letters"),
    Row(
        "GET",
        "/staff/letters/<letter_type>/<locale>",
        page(Action.MANAGE_LETTERS, 200),
        lambda w, c: "/staff/letters/deposit_submitted/en",
    ),
    Row(
        "POST",
        "/staff/letters/<letter_type>/<locale>",
        page(Action.MANAGE_LETTERS, 422, post=True),
        lambda w, c: "/staff/letters/deposit_submitted/en",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        "/staff/letters/<letter_type>/<locale>/preview",
        page(Action.MANAGE_LETTERS, 422, post=True),
        lambda w, c: "/staff/letters/deposit_submitted/en/preview",
        body=lambda w, c: {},
    ),
    Row(
        "GET",
        "/staff/letters/preferences",
        page(Action.SEE_ALL_DEPOSITS, 200),
        lambda w, c: "/staff/letters/preferences",
    ),
    Row(
        "POST",
        "/staff/letters/preferences",
        page(Action.SEE_ALL_DEPOSITS, 400, post=True),
        lambda w, c: "/staff/letters/preferences",
        body=lambda w, c: {"delivery": "never"},
        form=True,
    ),
    Row(
        "GET",
        "/staff/collections",
        page(Action.MANAGE_COLLECTIONS, 200),
        lambda w, c: "/staff/collections",
    ),
    Row(
        "POST",
        "/staff/collections",
        page(Action.MANAGE_COLLECTIONS, 422, post=True),
        lambda w, c: "/staff/collections",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "GET",
        "/staff/collections/<collection_id>",
        page(Action.MANAGE_COLLECTIONS, 200),
        lambda w, c: "/staff/collections/theses",
    ),
    Row(
        "POST",
        "/staff/collections/<collection_id>",
        page(Action.MANAGE_COLLECTIONS, 422, post=True),
        lambda w, c: "/staff/collections/theses",
        body=lambda w, c: {"name": ""},
        form=True,
    ),
    # a profile still puts its items there: back to the collection, with the reason
    Row(
        "POST",
        "/staff/collections/<collection_id>/delete",
        page(Action.MANAGE_COLLECTIONS, 302, post=True),
        lambda w, c: "/staff/collections/theses/delete",
        body=lambda w, c: {},
        form=True,
    ),
    Row("GET", "/staff/fixity", page(Action.SEE_ALL_DEPOSITS, 200), lambda w, c: "/staff/fixity"),
    Row(
        "POST",
        "/staff/fixity/audit",
        page(Action.SEE_ALL_DEPOSITS, 302, post=True),
        lambda w, c: "/staff/fixity/audit",
        body=lambda w, c: {},
        form=True,
    ),
    Row(
        "POST",
        "/staff/items/<item_id>/bag",
        page(Action.EXPORT_BAGS, 302, post=True),
        lambda w, c: f"/staff/items/{w.ids['item']}/bag",
        body=lambda w, c: {},
        form=True,
    ),
    # a DOI the item does not have is not found, for those who may send one again
    Row(
        "POST",
        "/staff/items/<item_id>/doi",
        page(Action.MANAGE_DOIS, 404, post=True),
        lambda w, c: f"/staff/items/{w.ids['item']}/doi",
        body=lambda w, c: {"doi": "10.80000/not-this-items"},
        form=True,
    ),
    # --- operations ---
    Row("GET", "/healthz", everyone(200), lambda w, c: "/healthz"),
    Row("GET", "/readyz", everyone(200), lambda w, c: "/readyz"),
    # Prometheus's own token opens it (tests/e2e/test_gateway.py), no caller's
    Row("GET", "/metrics", everyone(401), lambda w, c: "/metrics"),
    Row("GET", "/static/<path:filename>", everyone(200), lambda w, c: "/static/lodge.css"),
]


# --- the run -----------------------------------------------------------------------------------


def _routes_of_the_app() -> set[tuple[str, str]]:
    from gateway.app import create_app

    app = create_app()
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_table_names_every_route_of_the_gateway(lodge_env):
    lodge_env.setenv("LODGE_AMQP_URI", "amqp://guest:guest@127.0.0.1:1/")
    table = {(row.method, row.rule) for row in ROUTES}
    app_routes = _routes_of_the_app()
    assert not app_routes - table, (
        f"routes without a row in the matrix: {sorted(app_routes - table)}"
    )
    assert not table - app_routes, (
        f"rows for routes that do not exist: {sorted(table - app_routes)}"
    )
    for row in ROUTES:
        assert set(row.expected) == set(CALLERS), f"{row.method} {row.rule} misses callers"


def _token(system, scope: str) -> str:
    import subprocess

    from tests.support.system import REPO_ROOT

    result = subprocess.run(
        [system.python, "-m", "lodge", "token", "admin", "--scope", scope],
        cwd=REPO_ROOT,
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()[-1]


def _sign_in(system, caller: str) -> tuple[requests.Session, str]:
    session = requests.Session() if caller == "anonymous" else signed_in(system, SIGN_INS[caller])
    return session, csrf_token(session.get(f"{system.base_url}/login", timeout=30).text)


@pytest.fixture(scope="module")
def world(lodge_system):
    from gateway.auth import identity
    from gateway.campus import registry

    engine = create_engine(lodge_system.database_urls["gateway"])
    with Session(engine) as db, db.begin():
        identity.create_user(
            db,
            "outsider",
            "Olive Outsider",
            "outsider@example.edu",
            "demo",
            ["elsewhere"],
            ["approver"],
            enforce_policy=False,
        )
        identity.create_user(
            db,
            "selfreviewer",
            "Sasha Selfreviewer",
            "selfreviewer@example.edu",
            "demo",
            ["approvers"],
            ["approver"],
            enforce_policy=False,
        )
        system = registry.create_system(
            db,
            {
                "name": "matrix",
                "label": "Matrix system",
                "profiles": [{"profile_id": "thesis", "mode": "mediated"}],
            },
            lambda: {"thesis"},
            created_by="matrix",
        )
    engine.dispose()
    w = World(lodge_system)
    w.ids["system"] = system["id"]
    for caller in ("anonymous",) + USERS:
        w.callers[caller], w.csrf[caller] = _sign_in(lodge_system, caller)
    for scope in ("deposit", "review", "manage"):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {_token(lodge_system, scope)}"
        w.callers[f"token_{scope}"] = session
    owner = w.owner
    w.ids["draft"] = w.fresh_draft()
    published = w.fresh_draft()
    owner.upload(published, "open.pdf", PDF)
    owner.submit(published)
    review = w.fresh_draft("thesis", THESIS)
    w.ids["review_file"] = owner.upload(review, "thesis.pdf", PDF)["id"]
    owner.submit(review)
    w.ids["review"] = review
    w.ids["item"] = lodge_system.wait_for_status(owner, published, "archived")["item_id"]
    item = owner.get(f"/api/v1/items/{w.ids['item']}").json()
    w.ids["item_file"] = item["representations"][0]["files"][0]["id"]
    w.ids["identifier"] = item["identifier"]
    w.ids["upload"] = w.fresh_upload()[1]
    w.ids["unpublished_file"] = w.fresh_file()[1]
    own = lodge_system.client("selfreviewer")
    w.ids["own_review"] = own.create_deposit("thesis", THESIS)["id"]
    w.ids["own_review_file"] = own.upload(w.ids["own_review"], "own.pdf", PDF)["id"]
    own.submit(w.ids["own_review"])
    lodge_system.wait_for_status(owner, review, "in_review")
    lodge_system.wait_for_status(own, w.ids["own_review"], "in_review")
    return w


def _call(world: World, row: Row, caller: str) -> requests.Response:
    system = world.system
    session = world.callers[caller]
    csrf = world.csrf.get(caller)
    if row.fresh_session and caller not in TOKENS:
        session, csrf = _sign_in(system, caller)
    url = system.base_url + row.path(world, caller)
    # a fresh connection each time: gunicorn drops idle keep-alive ones after two seconds,
    # and a POST sent on one just as it closes would fail with no answer at all
    kwargs = {
        "allow_redirects": False,
        "timeout": 60,
        "headers": {"Connection": "close", **row.headers},
    }
    if row.method != "GET":
        body = row.body(world, caller) if row.body else None
        if csrf:
            kwargs["headers"]["X-CSRFToken"] = csrf
        if row.form:
            kwargs["data"] = {**(body or {}), **({"csrf_token": csrf} if csrf else {})}
        elif row.rule.endswith("/files"):
            kwargs["data"] = PDF
            kwargs["headers"]["Content-Type"] = "application/octet-stream"
        elif body is not None:
            kwargs["json"] = body
    return session.request(row.method, url, **kwargs)


def _state(world: World) -> tuple:
    """What a request could change: the draft, the deposit in review, the live tokens."""
    manager = world.system.client("manager")
    return (
        world.owner.deposit(world.ids["draft"]),
        manager.deposit(world.ids["review"]),
        sorted(world._token_ids()),
    )


def _check(world: World, rows: list[Row], callers: tuple[str, ...] = CALLERS) -> list[str]:
    wrong = []
    for row in rows:
        for caller in callers:
            response = _call(world, row, caller)
            if row.after:
                row.after(world, caller, response)
            if response.status_code != row.expected[caller]:
                wrong.append(
                    f"{row.method} {row.rule} as {caller}: "
                    f"{response.status_code}, expected {row.expected[caller]} "
                    f"{response.text[:120]!r}"
                )
            assert response.status_code < 500, wrong[-1]
    return wrong


def _check_side_by_side(world: World, rows: list[Row]) -> list[str]:
    """Requests that change nothing, four callers' at a time, each caller's in order on a
    session of its own: the gateway's workers answer them side by side."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = pool.map(lambda caller: _check(world, rows, (caller,)), CALLERS)
        return [line for lines in found for line in lines]


def test_every_route_answers_every_caller_as_the_table_says(world):
    before = _state(world)
    wrong = _check_side_by_side(world, [row for row in ROUTES if row.method == "GET"])
    assert _state(world) == before, "a GET changed something"
    wrong += _check(world, [row for row in ROUTES if row.method != "GET"])
    assert not wrong, "\n".join(wrong)
