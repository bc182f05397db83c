"""What the gateway adds to approval: people from its accounts, letter previews, file previews.

Shared by the review API and the staff review pages."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy import or_, select

from gateway.auth.identity import actor_for
from gateway.files.downloads import send_stored
from gateway.models import User
from gateway.rpc import rpc
from kernel.contracts.actors import Actor
from kernel.contracts.exceptions import InvalidInput
from kernel.platform.storage import get_storage
from kernel.policy.permissions import Action, can, own_deposit_refused

# the approval service's entrypoint for each decision
DECISION_METHODS = {"approve": "approve", "decline": "decline", "return": "return_for_changes"}
LETTER_FOR = {
    "approve": "deposit_archived",
    "decline": "deposit_declined",
    "return": "deposit_returned",
}
# media a browser shows by itself; everything else is offered as a download
PREVIEW_INLINE = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "audio/",
    "video/",
)
# shown as escaped text in the page, HTML and SVG sources included: never rendered
PREVIEW_TEXT = ("text/", "application/json", "application/xml", "image/svg+xml")
TEXT_PREVIEW_BYTES = 64 * 1024


def colleagues(approver_groups: list[str]) -> list[dict]:
    """Active approvers who may review a task of these groups (managers review everything).
    Staff accounts are few, so they are filtered here rather than by JSON queries."""
    wanted = set(approver_groups)
    with current_app.extensions["lodge.database"].reading() as session:
        people = [
            actor_for(user)
            for user in session.scalars(
                select(User).where(User.deactivated_at.is_(None)).order_by(User.name)
            )
        ]
    return [person.to_wire() for person in people if _may_review(person, wanted)]


def _may_review(person: Actor, approver_groups: set[str]) -> bool:
    """As approval decides it: supervisors any task, approvers those of their groups."""
    if can(person, Action.SUPERVISE_REVIEWS):
        return True
    return can(person, Action.REVIEW) and (
        not approver_groups or person.in_any_group(approver_groups)
    )


def person(reference: str, field: str) -> Actor:
    """A user by id, username or e-mail, as an actor; a clear field error otherwise."""
    with current_app.extensions["lodge.database"].reading() as session:
        user = session.scalar(
            select(User).where(
                or_(User.id == reference, User.username == reference, User.email == reference)
            )
        )
        if user is None:
            raise InvalidInput("There is no such user.", fields={field: ["unknown user"]})
        return actor_for(user)


def reason_label(reasons: list[dict], decision: str, reason_code: str | None) -> str | None:
    kind = {"decline": "decline", "return": "return"}.get(decision)
    matching = [r for r in reasons if r["kind"] == kind]
    chosen = (
        next((r for r in matching if r["code"] == reason_code), None)
        if reason_code
        else next((r for r in matching if r["is_default"]), None)
    )
    return chosen["label"] if chosen else None


def letter_preview(
    services, actor: Actor, review: dict, decision: str, reason_code: str | None, note: str | None
) -> dict:
    """The letter the depositor would get for this decision (`review` is approval's
    get_review), rendered, not sent: the first step of deciding, so never on one's own deposit."""
    if review["task"]["own_deposit"]:
        raise own_deposit_refused()
    deposit_id = review["task"]["deposit_id"]
    deposit = services.intake.get_deposit(actor=actor, deposit_id=deposit_id)
    reasons = services.approval.list_reasons(actor=actor)
    label = reason_label(reasons, decision, reason_code)
    if decision in ("decline", "return") and reason_code is None:
        reason_code = next((r["code"] for r in reasons if r["label"] == label), None)
    return services.letters.preview_letter(
        letter_type=LETTER_FOR[decision],
        deposit=deposit,
        reason_code=reason_code,
        reason_label=label,
        note=note,
        locale=None,
    )


def preview_kind(media_type: str) -> str:
    if media_type.startswith(PREVIEW_INLINE):
        return media_type.split("/")[0] if media_type != "application/pdf" else "pdf"
    if media_type.startswith(PREVIEW_TEXT):
        return "text"
    return "download"


def text_excerpt(stored: dict) -> tuple[str, bool]:
    """The start of a text file, decoded for escaping into the page; True if cut short."""
    data = get_storage().head(stored["storage_key"], TEXT_PREVIEW_BYTES + 1)
    return data[:TEXT_PREVIEW_BYTES].decode("utf-8", errors="replace"), len(
        data
    ) > TEXT_PREVIEW_BYTES


def send_review_file(deposit_id: str, file_id: str, download: bool):
    """A deposited file under review. Inline only for media a browser shows by itself, in a
    frame of this site at most, never as a page that runs script of this origin."""
    with rpc() as services:
        stored = services.approval.review_file(
            actor=g.actor, deposit_id=deposit_id, file_id=file_id
        )
    inline = not download and preview_kind(stored["media_type"]) in (
        "pdf",
        "image",
        "audio",
        "video",
    )
    response = send_stored(
        stored, inline=inline, mimetype=None if inline else "application/octet-stream"
    )
    # PDF viewers refuse sandboxed documents; a PDF may be framed by this site only
    sandbox = "" if stored["media_type"] == "application/pdf" else "; sandbox"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; frame-ancestors 'self'{sandbox}"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "private, no-store"
    return response
