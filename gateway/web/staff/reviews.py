"""Staff pages for approvers: the review queue and the review page.

Thin views over approval's RPCs (which check roles and approver groups again); the
gateway adds people from its accounts, the letter preview and the file previews."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from gateway import reviewers
from gateway.api.schemas import QueueQuery
from gateway.auth.guard import requires
from gateway.forms import deposit as deposit_form
from gateway.presenters.reason_labels import system_reason_labels
from gateway.rpc import rpc
from gateway.web.staff.inventory import fixity_alerts_asked
from kernel.contracts.approval import DECISIONS, QUEUE_SORTS, QUEUE_TABS
from kernel.contracts.exceptions import (
    Conflict,
    Forbidden,
    InvalidInput,
    LodgeError,
    NotFound,
)
from kernel.contracts.rpc import load_or_raise
from kernel.policy.permissions import Action

staff_reviews = Blueprint("staff_reviews", __name__, url_prefix="/staff")


def tab_names() -> dict[str, str]:
    return {
        "mine": _("Assigned to me"),
        "unassigned": _("Unassigned"),
        "others": _("Assigned to others"),
        "all": _("All"),
    }


def sort_names() -> dict[str, str]:
    return {"oldest": _("Oldest first"), "newest": _("Newest first"), "due": _("Due first")}


def decision_names() -> dict[str, str]:
    return {"approve": _("Approve"), "decline": _("Decline"), "return": _("Return for changes")}


@staff_reviews.get("/queue")
@requires(Action.REVIEW)
def queue():
    args = {key: value for key, value in request.args.items() if value != ""}
    try:
        filters = load_or_raise(QueueQuery(), args)
    except InvalidInput:
        filters = load_or_raise(QueueQuery(), {})
        flash(_("Some filters were not understood and were left out."), "error")
    with rpc() as services, fixity_alerts_asked(services):
        # independent questions (the menu's badge too), asked at once: the page waits for
        # the slowest only; the bulk decisions' reasons come with the queue
        replies = (
            services.approval.queue.call_async(actor=g.actor, **filters),
            services.intake.list_profiles.call_async(actor=g.actor, include_inactive=True),
            services.inventory.list_collections.call_async(),
        )
        result, profiles, collections = (reply.result() for reply in replies)
        # an approval from before the queue carried its reasons (during a rolling update)
        reasons = (
            result["reasons"]
            if "reasons" in result
            else services.approval.list_reasons(actor=g.actor)
        )
    # a count past its limit knows no last page; `has_more` says whether a next one follows
    capped = result["total"] > result["count_limit"]
    pages = None if capped else max(1, -(-result["total"] // result["per_page"]))
    return render_template(
        "staff/queue.html",
        result=result,
        filters=filters,
        tabs=tab_names(),
        tab_order=QUEUE_TABS,
        sorts=sort_names(),
        sort_order=QUEUE_SORTS,
        pages=pages,
        profiles={p["id"]: p["name"] for p in profiles},
        collections={c["id"]: c["name"] for c in collections},
        reasons=_reasons_by_kind(reasons),
        decisions=decision_names(),
    )


def services_reasons() -> list[dict]:
    with rpc() as services:
        return services.approval.list_reasons(actor=g.actor)


def _reasons_by_kind(reasons: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {"decline": [], "return": []}
    for reason in reasons:
        grouped.setdefault(reason["kind"], []).append(reason)
    for items in grouped.values():
        items.sort(key=lambda r: (not r["is_default"], r["label"].casefold()))
    return grouped


@staff_reviews.post("/queue/bulk")
@requires(Action.DECIDE)
def bulk():
    deposit_ids = request.form.getlist("deposit_id")
    decision = request.form.get("decision", "")
    if not deposit_ids or decision not in DECISIONS:
        flash(_("Select deposits and a decision first."), "error")
        return redirect(request.referrer or url_for("staff_reviews.queue"))
    with rpc() as services:
        results = services.approval.decide_many(
            actor=g.actor,
            deposit_ids=deposit_ids,
            decision=decision,
            reason_code=request.form.get(f"reason_{decision}") or None,
            note=request.form.get("note") or None,
        )
    return render_template(
        "staff/bulk_results.html", results=results, decision=decision_names()[decision]
    )


def _review_context(services, deposit_id: str) -> dict:
    try:
        review = services.approval.get_review(actor=g.actor, deposit_id=deposit_id)
    except NotFound:
        abort(404, description=_("That deposit has not reached review."))
    except Forbidden:
        abort(403, description=_("You are not an approver for this deposit's profile."))
    # independent questions asked at once; only the profile waits for the deposit
    reasons_reply = services.approval.list_reasons.call_async(actor=g.actor)
    deliveries_reply = services.letters.list_deliveries.call_async(
        actor=g.actor, deposit_id=deposit_id
    )
    deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
    profile = services.intake.get_profile(
        actor=g.actor, profile_id=deposit["profile_id"], version=deposit["profile_version"]
    )
    reasons = reasons_reply.result()
    files = []
    for file in deposit["files"]:
        kind = reviewers.preview_kind(file["media_type"])
        entry = {**file, "preview": kind, "excerpt": None, "cut": False}
        if kind == "text":
            stored = services.approval.review_file(
                actor=g.actor, deposit_id=deposit_id, file_id=file["id"]
            )
            entry["excerpt"], entry["cut"] = reviewers.text_excerpt(stored)
        files.append(entry)
    return {
        "review": review,
        "task": review["task"],
        "deposit": deposit,
        "profile": profile,
        "files": files,
        "reasons": _reasons_by_kind(reasons),
        "reason_labels": {**system_reason_labels(), **{r["code"]: r["label"] for r in reasons}},
        "colleagues": reviewers.colleagues(review["task"]["approver_groups"]),
        "deliveries": deliveries_reply.result(),
        "staff_view": True,
        "decisions": decision_names(),
        "field_labels": {f["key"]: f["label"] for f in profile["fields"]},
    }


def _render_review(deposit_id: str, status: int = 200, **extra):
    with rpc() as services:
        context = _review_context(services, deposit_id)
        if extra.get("preview_request"):
            chosen = extra["preview_request"]
            extra["preview"] = reviewers.letter_preview(
                services,
                g.actor,
                context["review"],
                chosen["decision"],
                chosen["reason_code"],
                chosen["note"],
            )
    metadata = extra.pop("metadata", None) or context["deposit"]["metadata"]
    context["widgets"] = deposit_form.widgets(
        context["profile"]["fields"], metadata, extra.get("metadata_errors") or {}
    )
    return render_template("staff/review.html", **context, **extra), status


@staff_reviews.get("/reviews/<deposit_id>")
@requires(Action.REVIEW)
def review(deposit_id):
    return _render_review(deposit_id)


@staff_reviews.post("/reviews/<deposit_id>/task")
@requires(Action.DECIDE)
def task_action(deposit_id):
    """Claim, release or assign to a colleague."""
    action = request.form.get("action")
    messages = {
        "claim": _("You have claimed this deposit."),
        "release": _("Released back to the pool."),
        "assign": _("Assigned."),
    }
    if action not in messages:
        abort(400, description=_("Unknown action."))
    try:
        with rpc() as services:
            if action == "assign":
                colleague = reviewers.person(request.form.get("assignee", ""), "assignee")
                services.approval.assign(actor=g.actor, deposit_id=deposit_id, assignee=colleague)
            else:
                getattr(services.approval, action)(actor=g.actor, deposit_id=deposit_id)
        flash(messages[action], "success")
    except (Conflict, InvalidInput) as err:
        flash(err.message, "error")
    return redirect(url_for("staff_reviews.review", deposit_id=deposit_id))


@staff_reviews.post("/reviews/<deposit_id>/notes")
@requires(Action.DECIDE)
def add_note(deposit_id):
    text = request.form.get("text", "").strip()
    if not text:
        flash(_("Write a note first."), "error")
    else:
        with rpc() as services:
            services.approval.add_note(actor=g.actor, deposit_id=deposit_id, text=text)
        flash(_("Note added. Only staff see it."), "success")
    return redirect(url_for("staff_reviews.review", deposit_id=deposit_id) + "#notes")


@staff_reviews.post("/reviews/<deposit_id>/metadata")
@requires(Action.DECIDE)
def edit_metadata(deposit_id):
    with rpc() as services:
        deposit = services.intake.get_deposit(actor=g.actor, deposit_id=deposit_id)
        profile = services.intake.get_profile(
            actor=g.actor, profile_id=deposit["profile_id"], version=deposit["profile_version"]
        )
        metadata = deposit_form.parse(profile["fields"], request.form)
        try:
            services.approval.edit_metadata(actor=g.actor, deposit_id=deposit_id, metadata=metadata)
        except InvalidInput as err:
            flash(err.message, "error")
            return _render_review(
                deposit_id,
                422,
                metadata=metadata,
                editing=True,
                metadata_errors=err.fields.get("metadata", {}),
            )
        except Conflict as err:
            flash(err.message, "error")
            return redirect(url_for("staff_reviews.review", deposit_id=deposit_id))
    flash(_("Metadata saved; the history records your change."), "success")
    return redirect(url_for("staff_reviews.review", deposit_id=deposit_id))


@staff_reviews.post("/reviews/<deposit_id>/decision")
@requires(Action.DECIDE)
def decide(deposit_id):
    """Two steps: the first shows the letter the depositor will get, the second confirms."""
    decision = request.form.get("decision", "")
    if decision not in DECISIONS:
        flash(_("Choose approve, decline or return."), "error")
        return redirect(url_for("staff_reviews.review", deposit_id=deposit_id) + "#decide")
    chosen = {
        "decision": decision,
        "reason_code": request.form.get(f"reason_{decision}") or None,
        "note": request.form.get("note", "").strip() or None,
    }
    if request.form.get("step") != "confirm":
        return _render_review(deposit_id, preview_request=chosen, chosen=chosen)
    try:
        with rpc() as services:
            getattr(services.approval, reviewers.DECISION_METHODS[decision])(
                actor=g.actor,
                deposit_id=deposit_id,
                reason_code=chosen["reason_code"],
                note=chosen["note"],
            )
    except LodgeError as err:
        if isinstance(err, Forbidden):
            raise
        flash(err.message, "error")
        return redirect(url_for("staff_reviews.review", deposit_id=deposit_id))
    flash(_("Decided: %(decision)s.", decision=decision_names()[decision]), "success")
    return redirect(url_for("staff_reviews.queue"))


@staff_reviews.get("/reviews/<deposit_id>/files/<file_id>")
@requires(Action.REVIEW)
def review_file(deposit_id, file_id):
    return reviewers.send_review_file(deposit_id, file_id, download="download" in request.args)


# --- reason tables ------------------------------------------------------------------------


@staff_reviews.route("/reasons", methods=["GET", "POST"])
@requires(Action.MANAGE_REASONS)
def reasons():
    status = 200
    if request.method == "POST":
        form = request.form
        try:
            with rpc() as services:
                if form.get("action") == "delete":
                    services.approval.delete_reason(
                        actor=g.actor, kind=form.get("kind", ""), code=form.get("code", "")
                    )
                    flash(_("Reason removed."), "success")
                else:
                    services.approval.save_reason(
                        actor=g.actor,
                        kind=form.get("kind", ""),
                        code=form.get("code", "").strip(),
                        label=form.get("label", "").strip(),
                        is_default=bool(form.get("is_default")),
                    )
                    flash(_("Reason saved."), "success")
            return redirect(url_for("staff_reviews.reasons"))
        except (InvalidInput, Conflict, NotFound) as err:
            problems = "; ".join(
                f"{name}: {', '.join(map(str, messages))}"
                for name, messages in (err.fields or {}).items()
            )
            flash(f"{err.message} {problems}".strip(), "error")
            status = 422
    return render_template(
        "staff/reasons.html",
        reasons=_reasons_by_kind(services_reasons()),
        kinds={"decline": _("Decline reasons"), "return": _("Return reasons")},
    ), status
