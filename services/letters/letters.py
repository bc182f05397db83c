"""Which letters each lifecycle step sends, to whom, and the outbox they wait in. No framework.

Every letter is a row keyed by event, recipient and letter type, so an event delivered
twice makes one letter. A letter is rendered when it is queued; a template that does not
render marks that letter failed and never blocks the deposit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from sqlalchemy import TextClause, bindparam, delete, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from kernel.contracts.actors import Actor
from kernel.contracts.people import DEFAULT_LOCALE
from kernel.platform.db import UnitOfWork
from kernel.policy import text
from kernel.policy.permissions import TOLD_OF_REVIEWS, Action, can
from services.letters import templates
from services.letters.models import DigestEntry, Letter, PendingReview, Recipient
from services.letters.templates import Parts, RenderError

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

MAX_ATTEMPTS = 8
# how long a deposit that left review stays marked: an event of its entering review
# delivered later than that (a dead letter replayed, say) would ask its approvers again
LEFT_REVIEW_KEPT = timedelta(days=30)
DRAFT_EXPIRED = "draft_expired"  # intake's reason when it removes an abandoned draft
DEPOSITOR_LETTERS = {
    "submitted": "deposit_submitted",
    "declined": "deposit_declined",
    "archived": "deposit_archived",
    "withdrawn": "deposit_withdrawn",
}


# --- what a template can use ----------------------------------------------------------


def letter_context(
    event: dict[str, Any], base_url: str, recipient_name: str | None = None
) -> dict[str, Any]:
    """Every variable every template may use; those a step does not fill are empty."""
    item_id = event.get("item_id")
    depositor = event["depositor"]
    mediator = event.get("mediated_by") or {}
    review = event.get("review") or {}
    token = event.get("token") or {}
    return {
        # one line, so that a title never breaks the subject line
        "title": " ".join((event.get("title") or "").split()) or "(untitled)",
        "recipient_name": depositor["name"] if recipient_name is None else recipient_name,
        "depositor_name": depositor["name"],
        "mediator_name": mediator.get("name") or "",
        "profile_name": review.get("profile_name") or "",
        "occurred_at": event["occurred_at"].strftime("%Y-%m-%d %H:%M UTC"),
        "due_date": event["due_at"].strftime("%Y-%m-%d") if event.get("due_at") else "",
        # empty, not None, so that "{{ note }}" never prints "None"
        "reason_code": event.get("reason_code") or "",
        # the reason as the approver's table words it; the code where it had no label
        "reason": event.get("reason_label") or event.get("reason_code") or "",
        "note": event.get("note") or "",
        "report": event.get("report") or {"checks": [], "files": []},
        # a letter about an account, not a deposit, has no deposit id
        "deposit_url": f"{base_url}/deposits/{event['deposit_id']}" if event["deposit_id"] else "",
        "item_identifier": event.get("item_identifier") or "",
        "item_doi": event.get("item_doi") or "",
        "item_url": item_url(base_url, event.get("item_identifier"), item_id),
        "entries": event.get("entries") or [],
        "preferences_url": f"{base_url}/staff/letters/preferences",
        "token_name": token.get("name") or "",
        "token_prefix": token.get("prefix") or "",
        "expires_on": token["expires_at"].strftime("%Y-%m-%d") if token else "",
        "tokens_url": f"{base_url}/account/tokens",
    }


def item_url(base_url: str, identifier: str | None, item_id: str | None) -> str:
    """Where a person sees the item: its persistent address, which resolves to the landing
    page, else the landing page itself; never the API's JSON."""
    if identifier:
        return f"{base_url}/id/{quote(identifier, safe=':/')}"
    return f"{base_url}/items/{item_id}" if item_id else ""


def sample_event(now: datetime | None = None) -> dict[str, Any]:
    """A deposit that exercises every variable: templates are checked and previewed on it."""
    now = now or datetime.now(UTC)
    return {
        "deposit_id": "sample",
        "revision": 1,
        "title": "Tidal patterns of the Wadden Sea",
        "occurred_at": now,
        "due_at": now + timedelta(days=14),
        "depositor": {
            "id": "sample",
            "name": "Sam Student",
            "email": "sam@example.edu",
            "locale": DEFAULT_LOCALE,
        },
        "mediated_by": {"id": "staff", "name": "Robin Staff"},
        "review": {"profile_name": "Thesis", "approver_groups": ["approvers"]},
        "reason_code": "metadata_incomplete",
        "reason_label": "Metadata incomplete",
        "note": "Please add an abstract.",
        "item_id": "sample-item",
        "item_identifier": "ark:/99999/lodge-0000000000000000",
        "item_doi": "10.5072/0000000000000000",
        "report": {
            "checks": [
                {
                    "check": "file_count",
                    "passed": False,
                    "message": "At least 1 file(s) are needed.",
                }
            ],
            "files": [
                {
                    "file_id": "f1",
                    "filename": "tides.pdf",
                    "passed": False,
                    "checks": [
                        {"check": "format", "passed": False, "message": "The file is not a PDF."}
                    ],
                }
            ],
        },
        "entries": [
            {
                "title": "Tidal patterns of the Wadden Sea",
                "letter_type": "review_requested",
                "subject": 'New deposit to review: "Tidal patterns of the Wadden Sea"',
                "link": "https://lodge.example.org/deposits/sample",
                "created_at": now.strftime("%Y-%m-%d %H:%M UTC"),
            }
        ],
        "token": {
            "name": "my upload script",
            "prefix": "lodge_AbCdEf",
            "expires_at": now + timedelta(days=14),
        },
    }


VARIABLES = sorted(letter_context(sample_event(), ""))


def sample_context(base_url: str) -> dict[str, Any]:
    return letter_context(sample_event(), base_url)


def deposit_event(
    deposit: dict[str, Any],
    reason: tuple[str | None, str | None] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """An event-shaped view of a deposit (as intake's get_deposit returns it), for previews;
    `reason` is a decision's (code, label), else the deposit's last step gives it."""
    history = deposit.get("history") or []
    last = history[-1] if history else {}
    reason_code, reason_label = (
        reason if reason is not None else (last.get("reason_code"), last.get("reason_label"))
    )
    return {
        **sample_event(),
        "deposit_id": deposit["id"],
        "revision": deposit["revision"],
        "title": deposit["title"],
        "depositor": deposit["depositor"],
        "mediated_by": deposit.get("mediated_by"),
        "reason_code": reason_code,
        "reason_label": reason_label,
        "note": note if note is not None else last.get("note"),
        "report": deposit.get("validation_report"),
        "item_id": deposit.get("item_id"),
        "item_identifier": deposit.get("item_identifier"),
        "item_doi": deposit.get("item_doi"),
    }


def preview(
    session: Session,
    letter_type: str,
    locale: str | None,
    event: dict[str, Any],
    base_url: str,
    parts: Parts | None = None,
) -> dict[str, Any]:
    """A letter rendered, not sent: from its template in effect, or from unsaved `parts`."""
    locale = locale or event["depositor"].get("locale") or DEFAULT_LOCALE
    templates.check_known(letter_type, locale)
    if parts is None:
        locale, parts = templates.effective(session, letter_type, locale)
    rendered = templates.render(parts, letter_context(event, base_url))
    return {
        "letter_type": letter_type,
        "locale": locale,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
    }


# --- which letters an event sends -----------------------------------------------------


def letter_type_for(event: dict[str, Any]) -> str | None:
    """The depositor's letter for a status change, or None where that step sends none."""
    status = event["to_status"]
    if status == "withdrawn" and event["reason_code"] == DRAFT_EXPIRED:
        return "draft_expired"
    if status == "returned":
        return (
            "validation_failed" if event["reason_code"] == "checks_failed" else "deposit_returned"
        )
    if status == "submitted" and event.get("mediated_by") and event["revision"] == 1:
        return "deposit_created_on_behalf"
    return DEPOSITOR_LETTERS.get(status)


def on_draft_expiring(
    session: Session, key: str, event: dict[str, Any], base_url: str
) -> list[Letter]:
    """Warn the depositor that their untouched draft will be removed on `due_date`."""
    depositor = event["depositor"]
    if not depositor.get("email"):
        return []
    letter = queue(
        session,
        key,
        {**event, "due_at": event["expires_at"]},
        "draft_expiring",
        base_url,
        depositor["id"],
        depositor["email"],
        depositor["name"],
        depositor.get("locale"),
    )
    return [letter] if letter is not None else []


def approvers_for(session: Session, review: dict[str, Any]) -> list[Recipient]:
    """The approvers of the profile's approver groups (every approver if it names none)."""
    groups = set(review.get("approver_groups") or ())
    return [
        person
        for person in session.scalars(select(Recipient).order_by(Recipient.id))
        if TOLD_OF_REVIEWS in (person.roles or ())
        and person.email
        and (not groups or groups.intersection(person.groups or ()))
    ]


def on_status_changed(
    uow: UnitOfWork, key: str, event: dict[str, Any], base_url: str, turnaround_days: int
) -> list[Letter]:
    """Queue the letters a step sends and keep track of deposits awaiting review."""
    session = uow.session
    queued = []
    depositor = event["depositor"]
    letter_type = letter_type_for(event)
    if letter_type and depositor.get("email"):
        queued.append(
            queue(
                session,
                key,
                event,
                letter_type,
                base_url,
                depositor["id"],
                depositor["email"],
                depositor["name"],
                depositor.get("locale"),
            )
        )
    if event["to_status"] != "in_review":
        if event.get("from_status") == "in_review":
            left_review(session, event)
        return [letter for letter in queued if letter is not None]
    review = event.get("review") or {}
    if review.get("mode", "manual") != "manual":
        return [letter for letter in queued if letter is not None]
    days = review.get("turnaround_days") or turnaround_days
    if not entered_review(session, event, event["occurred_at"] + timedelta(days=days)):
        return [letter for letter in queued if letter is not None]
    queued += tell_approvers(session, key, event, "review_requested", base_url)
    return [letter for letter in queued if letter is not None]


REVIEW_ROW = (
    "deposit_id",
    "revision",
    "title",
    "depositor",
    "review",
    "due_at",
    "reminded_at",
    "left_at",
)


def _review_upsert(updates: str, when: str) -> TextClause:
    """An insert of a deposit's PendingReview row from a step's event that turns a conflict
    into a conditional update: one statement, so the handlers of one deposit's steps,
    running at once or out of order, cannot interleave. Written as SQL, which PostgreSQL
    and SQLite both take, so it is compiled once (SQLAlchemy compiles its dialects' own
    upserts afresh at every run)."""
    columns = PendingReview.__table__.c
    return sql_text(
        f"INSERT INTO pending_reviews ({', '.join(REVIEW_ROW)}) "
        f"VALUES ({', '.join(f':{name}' for name in REVIEW_ROW)}) "
        f"ON CONFLICT (deposit_id) DO UPDATE SET {updates} WHERE {when}"
    ).bindparams(*(bindparam(name, type_=columns[name].type) for name in REVIEW_ROW))


# a deposit enters review at most once a revision: a new revision starts a new wait
ENTER_REVIEW = _review_upsert(
    "revision = excluded.revision, title = excluded.title, depositor = excluded.depositor, "
    "review = excluded.review, due_at = excluded.due_at, reminded_at = NULL, left_at = NULL",
    "pending_reviews.revision < excluded.revision OR (pending_reviews.revision = "
    "excluded.revision AND pending_reviews.left_at IS NULL)",
)
LEAVE_REVIEW = _review_upsert(
    "revision = excluded.revision, left_at = excluded.left_at",
    "pending_reviews.revision <= excluded.revision",
)


def _review_row(event: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {
        "deposit_id": event["deposit_id"],
        "revision": event["revision"],
        "title": event["title"],
        "depositor": event["depositor"],
        "review": event.get("review") or {},
        "due_at": event["occurred_at"],
        "reminded_at": None,
        "left_at": None,
        **values,
    }


def entered_review(session: Session, event: dict[str, Any], due_at: datetime) -> bool:
    """Start the deposit's wait for an approver; False if it has already left review at
    this revision (its events were handled out of order), so nobody is asked again."""
    session.flush()  # what the session holds goes first, as with an ORM statement
    result = session.execute(ENTER_REVIEW, _review_row(event, due_at=due_at))
    return cast("CursorResult[Any]", result).rowcount == 1


def left_review(session: Session, event: dict[str, Any]) -> None:
    """The deposit was decided, returned or withdrawn: no reminder for it. The row stays
    a while as a marker, so a late event of its entering review is not taken as new."""
    session.flush()
    session.execute(LEAVE_REVIEW, _review_row(event, left_at=event["occurred_at"]))


def tell_approvers(
    session: Session, key: str, event: dict[str, Any], letter_type: str, base_url: str
) -> list[Letter | None]:
    """A letter to each approver who wants them at once; a digest entry for the others.
    Nobody is asked to review their own deposit."""
    letters = []
    own = {event["depositor"].get("id"), (event.get("mediated_by") or {}).get("id")}
    for person in approvers_for(session, event.get("review") or {}):
        if person.id in own:
            continue
        if person.delivery == "digest":
            add_digest_entry(session, key, event, letter_type, person, base_url)
        else:
            letters.append(
                queue(
                    session,
                    key,
                    event,
                    letter_type,
                    base_url,
                    person.id,
                    person.email,
                    person.name,
                    person.locale,
                )
            )
    return letters


def queue(
    session: Session,
    key: str,
    event: dict[str, Any],
    letter_type: str,
    base_url: str,
    recipient_id: str,
    email: str,
    name: str,
    locale: str | None,
    is_digest: bool = False,
) -> Letter | None:
    """One letter for this event, recipient and type, rendered now; None if queued before."""
    letter_key = f"{key}:{email}:{letter_type}"
    if session.scalar(select(Letter.id).where(Letter.key == letter_key)):
        return None
    letter = Letter(
        id=uuid.uuid4().hex,
        key=letter_key,
        deposit_id=event["deposit_id"],
        revision=event["revision"],
        letter_type=letter_type,
        recipient=email,
        recipient_name=name,
        recipient_id=recipient_id,
        locale=locale or DEFAULT_LOCALE,
        is_digest=is_digest,
        status="pending",
        attempts=0,
        next_attempt_at=datetime.now(UTC),
    )
    try:
        letter.locale, parts = templates.effective(session, letter_type, letter.locale)
        rendered = templates.render(parts, letter_context(event, base_url, name))
        letter.subject = text.shorten(rendered.subject, Letter.subject.type.length)
        letter.body_html, letter.body_text = rendered.html, rendered.text
    except RenderError as err:
        letter.status, letter.last_error = "failed", f"{letter_type} template: {err}"
    session.add(letter)
    return letter


def warn_token_expiry(
    session: Session, key: str, recipient: dict[str, Any], token: dict[str, Any], base_url: str
) -> Letter | None:
    """A letter telling `recipient` that their API token expires soon; None if sent before."""
    event = {
        "deposit_id": "",
        "revision": 0,
        "title": "",
        "depositor": recipient,
        "occurred_at": datetime.now(UTC),
        "token": token,
    }
    return queue(
        session,
        key,
        event,
        "token_expiring",
        base_url,
        recipient["id"],
        recipient["email"],
        recipient["name"],
        recipient.get("locale"),
    )


# --- reminders and digests ------------------------------------------------------------


def add_digest_entry(
    session: Session,
    key: str,
    event: dict[str, Any],
    letter_type: str,
    person: Recipient,
    base_url: str,
) -> None:
    entry_key = f"{key}:{person.id}:{letter_type}"
    if session.scalar(select(DigestEntry.id).where(DigestEntry.key == entry_key)):
        return
    session.add(
        DigestEntry(
            key=entry_key,
            recipient_id=person.id,
            deposit_id=event["deposit_id"],
            letter_type=letter_type,
            subject=event["title"] or "(untitled)",
            link=f"{base_url}/deposits/{event['deposit_id']}",
        )
    )


def send_reminders(session: Session, now: datetime, base_url: str) -> list[Letter]:
    """Deposits past their turnaround target: a reminder to their approvers, once."""
    letters = []
    overdue = session.scalars(
        select(PendingReview)
        .where(
            PendingReview.due_at <= now,
            PendingReview.reminded_at.is_(None),
            PendingReview.left_at.is_(None),
        )
        .with_for_update(skip_locked=True)
    ).all()
    for pending in overdue:
        event = {
            "deposit_id": pending.deposit_id,
            "revision": pending.revision,
            "title": pending.title,
            "depositor": pending.depositor,
            "review": pending.review,
            "occurred_at": now,
            "due_at": pending.due_at,
        }
        key = f"overdue:{pending.deposit_id}:{pending.revision}"
        letters += [
            letter
            for letter in tell_approvers(session, key, event, "review_overdue", base_url)
            if letter is not None
        ]
        pending.reminded_at = now
    session.execute(delete(PendingReview).where(PendingReview.left_at < now - LEFT_REVIEW_KEPT))
    return letters


def send_digests(session: Session, now: datetime, send_hour: int, base_url: str) -> list[Letter]:
    """From the send hour on, one digest a day per approver, listing every entry waiting."""
    if now.hour < send_hour:
        return []
    letters = []
    waiting = session.scalars(
        select(DigestEntry)
        .where(DigestEntry.digest_letter_id.is_(None))
        .order_by(DigestEntry.id)
        .with_for_update(skip_locked=True)
    ).all()
    by_person: dict[str, list[DigestEntry]] = {}
    for entry in waiting:
        by_person.setdefault(entry.recipient_id, []).append(entry)
    for person_id, entries in by_person.items():
        person = session.get(Recipient, person_id)
        if person is None:
            continue
        event = {
            "deposit_id": "",
            "revision": 0,
            "title": "",
            "depositor": {"id": person.id, "name": person.name},
            "occurred_at": now,
            "entries": [
                {
                    "title": entry.subject,
                    "letter_type": entry.letter_type,
                    "subject": entry.subject,
                    "link": entry.link,
                    "created_at": entry.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                }
                for entry in entries
            ],
        }
        letter = queue(
            session,
            f"digest:{now.date().isoformat()}",
            event,
            "review_digest",
            base_url,
            person.id,
            person.email,
            person.name,
            person.locale,
            is_digest=True,
        )
        if letter is None:  # today's digest went out already; these wait for tomorrow's
            continue
        for entry in entries:
            entry.digest_letter_id = letter.id
        letters.append(letter)
    return letters


# --- recipients and the delivery log --------------------------------------------------


def save_recipient(session: Session, actor: Actor, delivery: str | None) -> Recipient:
    person = session.get(Recipient, actor.id) or Recipient(id=actor.id, delivery="immediate")
    person.name, person.email = actor.name, actor.email
    person.locale = actor.locale or DEFAULT_LOCALE
    person.groups, person.roles = list(actor.groups), list(actor.roles)
    if delivery:
        person.delivery = delivery
    person.updated_at = datetime.now(UTC)
    session.add(person)
    session.flush()
    return person


def deliveries(session: Session, actor: Actor, deposit_id: str) -> Sequence[Letter]:
    """Staff see every letter about a deposit; anyone else only the letters sent to them."""
    query = select(Letter).where(Letter.deposit_id == deposit_id)
    if not can(actor, Action.SEE_ALL_DEPOSITS):
        query = query.where(Letter.recipient_id == actor.id)
    return session.scalars(query.order_by(Letter.created_at, Letter.id)).all()


# --- the outbox -----------------------------------------------------------------------


def due_letters(session: Session, now: datetime, limit: int = 50) -> Sequence[str]:
    """The ids of letters due, oldest first; each is sent under its own `claim`."""
    return session.scalars(
        select(Letter.id)
        .where(Letter.status == "pending", Letter.next_attempt_at <= now)
        .order_by(Letter.next_attempt_at)
        .limit(limit)
    ).all()


def claim(session: Session, letter_id: str, now: datetime) -> Letter | None:
    """The letter, locked until this transaction ends, if it is still due and no other
    instance holds it (SKIP LOCKED): sent and marked in this one transaction."""
    return session.scalar(
        select(Letter)
        .where(Letter.id == letter_id, Letter.status == "pending", Letter.next_attempt_at <= now)
        .with_for_update(skip_locked=True)
    )


def mark_sent(letter: Letter, message_id: str) -> None:
    letter.status, letter.message_id = "sent", message_id
    letter.sent_at = datetime.now(UTC)
    letter.attempts += 1
    letter.last_error = None


def mark_failed(letter: Letter, error: str) -> None:
    """A letter that can never be sent, with why, for the delivery log."""
    letter.attempts += 1
    letter.status, letter.last_error = "failed", error


def mark_attempt_failed(letter: Letter, error: str) -> None:
    """Back off exponentially; give up after MAX_ATTEMPTS."""
    letter.attempts += 1
    letter.last_error = error
    if letter.attempts >= MAX_ATTEMPTS:
        letter.status = "failed"
    else:
        delay = timedelta(seconds=min(2**letter.attempts, 600))
        letter.next_attempt_at = datetime.now(UTC) + delay
