"""Which letter each lifecycle step sends, and how a letter is rendered. No framework here."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from services.common.db import UnitOfWork
from services.letters.models import Letter

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "en"
MAX_ATTEMPTS = 8

_environment = SandboxedEnvironment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                                    autoescape=False, keep_trailing_newline=True)


class RenderError(Exception):
    pass


def letter_type_for(event: dict) -> str | None:
    """The depositor's letter for a status change, or None where that step sends none."""
    status = event["to_status"]
    if status == "returned":
        return "validation_failed" if event["reason_code"] == "checks_failed" else "deposit_returned"
    return {
        "submitted": "deposit_submitted",
        "declined": "deposit_declined",
        "archived": "deposit_archived",
        "withdrawn": "deposit_withdrawn",
    }.get(status)


def render(letter_type: str, locale: str, context: dict) -> tuple[str, str]:
    """Subject and plain-text body, in the recipient's locale or the default one."""
    for candidate in dict.fromkeys((locale, DEFAULT_LOCALE)):
        try:
            template = _environment.get_template(f"{letter_type}.{candidate}.txt")
            break
        except TemplateNotFound:
            continue
    else:
        raise RenderError(f"no template for {letter_type}")
    try:
        text = template.render(**context)
    except TemplateError as err:
        raise RenderError(f"{letter_type}: {err}") from err
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise RenderError(f"{letter_type}: the first line must be 'Subject: ...'")
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n")


def letter_context(event: dict, base_url: str) -> dict:
    item_id = event.get("item_id")
    return {
        # one line, so that a title never breaks the subject line
        "title": " ".join((event["title"] or "").split()) or "(untitled)",
        "recipient_name": event["depositor"]["name"],
        "occurred_at": event["occurred_at"].strftime("%Y-%m-%d %H:%M UTC"),
        "reason_code": event["reason_code"],
        "note": event["note"],
        "report": event["report"] or {"checks": [], "files": []},
        "deposit_url": f"{base_url}/deposits/{event['deposit_id']}",
        "item_identifier": event["item_identifier"],
        "item_url": f"{base_url}/api/v1/items/{item_id}" if item_id else "",
    }


def preview(letter_type: str, locale: str | None, deposit: dict, reason_code: str | None,
            reason_label: str | None, note: str | None, base_url: str) -> dict:
    """The letter a decision on `deposit` would send its depositor, rendered, not sent."""
    locale = locale or deposit["depositor"]["locale"] or DEFAULT_LOCALE
    context = letter_context({
        "deposit_id": deposit["id"], "title": deposit["title"], "depositor": deposit["depositor"],
        "occurred_at": datetime.now(timezone.utc), "reason_code": reason_label or reason_code,
        "note": note, "report": deposit.get("validation_report"),
        "item_id": deposit.get("item_id"), "item_identifier": deposit.get("item_identifier"),
    }, base_url)
    subject, text = render(letter_type, locale, context)
    return {"letter_type": letter_type, "locale": locale, "subject": subject, "text": text,
            "html": None}


def compose(uow: UnitOfWork, key: str, event: dict, base_url: str) -> Letter | None:
    """Queue the depositor's letter for this event, once. A template that does not render
    marks the letter failed; it never blocks the deposit."""
    letter_type = letter_type_for(event)
    recipient = event["depositor"]["email"]
    if letter_type is None or not recipient:
        return None
    letter_key = f"{key}:{recipient}:{letter_type}"
    if uow.session.scalar(select(Letter.id).where(Letter.key == letter_key)):
        return None
    letter = Letter(id=uuid.uuid4().hex, key=letter_key, deposit_id=event["deposit_id"],
                    revision=event["revision"], letter_type=letter_type, recipient=recipient,
                    recipient_name=event["depositor"]["name"], locale=event["depositor"]["locale"])
    try:
        letter.subject, letter.body_text = render(letter_type, letter.locale,
                                                  letter_context(event, base_url))
    except RenderError as err:
        letter.status, letter.last_error = "failed", str(err)
    uow.session.add(letter)
    return letter


def due_letters(session, now: datetime, limit: int = 50) -> list[Letter]:
    return session.scalars(
        select(Letter).where(Letter.status == "pending", Letter.next_attempt_at <= now)
        .order_by(Letter.next_attempt_at).limit(limit).with_for_update(skip_locked=True)).all()


def mark_sent(letter: Letter, message_id: str) -> None:
    letter.status, letter.message_id = "sent", message_id
    letter.sent_at = datetime.now(timezone.utc)
    letter.attempts += 1


def mark_attempt_failed(letter: Letter, error: str) -> None:
    """Back off exponentially; give up after MAX_ATTEMPTS."""
    letter.attempts += 1
    letter.last_error = error
    if letter.attempts >= MAX_ATTEMPTS:
        letter.status = "failed"
    else:
        delay = timedelta(seconds=min(2 ** letter.attempts, 600))
        letter.next_attempt_at = datetime.now(timezone.utc) + delay
