"""Letters: a letter for every lifecycle step, kept in an outbox until delivered."""

import logging
from datetime import UTC, datetime

from nameko.timer import timer

from kernel.contracts.actors import Actor
from kernel.contracts.events import dedupe_key, new_event
from kernel.contracts.letters import (
    DeliveriesRequest,
    DeliveryView,
    LetterPreviewView,
    LetterTemplateRequest,
    LetterTemplateSummaryView,
    LetterTemplateView,
    PreviewLetterRequest,
    PreviewLetterTemplateRequest,
    RecipientView,
    SaveLetterTemplateRequest,
    SaveRecipientRequest,
    TokenExpiringRequest,
)
from kernel.contracts.rpc import ActorRequest, rpc_contract
from kernel.platform.config import get_settings
from kernel.platform.dead_letters import DeadLetterDesk
from kernel.platform.dependencies import Store
from kernel.platform.messaging import handles_event, rpc
from kernel.platform.metrics import LETTERS_FAILED, LETTERS_SENT
from kernel.policy.permissions import Action, require
from services.letters import letters, templates
from services.letters.dependencies import Mailer, build_message

log = logging.getLogger(__name__)
BATCH = 50

# rows are dumped while their session is open
recipient_view = RecipientView()
deliveries_view = DeliveryView(many=True)


def pending_ids(queued: list) -> list[str]:
    """The letters among those just queued that are to be sent (not failed at rendering)."""
    return [letter.id for letter in queued if letter.status == "pending"]


class LettersService(DeadLetterDesk):
    name = "letters"

    store = Store()
    mailer = Mailer()

    @handles_event("intake", "deposit_status_changed")
    def on_deposit_status_changed(self, event):
        settings = get_settings().mail
        with self.store.unit_of_work() as uow:
            key = dedupe_key("intake", "deposit_status_changed", event)
            queued = letters.on_status_changed(
                uow, key, event, get_settings().site.base_url, settings.review_turnaround_days
            )
            self._emit_failures(uow, queued)
            to_send = pending_ids(queued)
        self._send_now(to_send)

    @handles_event("intake", "draft_expiring")
    def on_draft_expiring(self, event):
        with self.store.unit_of_work() as uow:
            queued = letters.on_draft_expiring(
                uow.session,
                dedupe_key("intake", "draft_expiring", event),
                event,
                get_settings().site.base_url,
            )
            self._emit_failures(uow, queued)
            to_send = pending_ids(queued)
        self._send_now(to_send)

    # --- templates ---------------------------------------------------------------------

    @rpc
    @rpc_contract(PreviewLetterRequest, LetterPreviewView())
    def preview_letter(self, letter_type, locale, deposit, reason_code, reason_label, note):
        """The letter a decision on `deposit` would send its depositor, not sent."""
        event = letters.deposit_event(deposit, (reason_code, reason_label), note)
        with self.store.reading() as session:
            try:
                return letters.preview(
                    session, letter_type, locale, event, get_settings().site.base_url
                )
            except templates.RenderError as err:
                raise templates.refusal(err) from None

    @rpc
    @rpc_contract(PreviewLetterTemplateRequest, LetterPreviewView())
    def preview_template(self, actor, letter_type, locale, subject, html, text, deposit):
        """Unsaved template parts rendered against a real deposit, or the sample one."""
        actor = Actor.from_wire(actor)
        require(actor, Action.MANAGE_LETTERS)
        event = letters.deposit_event(deposit) if deposit else letters.sample_event()
        with self.store.reading() as session:
            try:
                return letters.preview(
                    session,
                    letter_type,
                    locale,
                    event,
                    get_settings().site.base_url,
                    templates.Parts(subject, html, text),
                )
            except templates.RenderError as err:
                raise templates.refusal(err) from None

    @rpc
    @rpc_contract(ActorRequest, LetterTemplateSummaryView(many=True))
    def list_templates(self, actor):
        actor = Actor.from_wire(actor)
        require(actor, Action.MANAGE_LETTERS)
        with self.store.reading() as session:
            return templates.summaries(session)

    @rpc
    @rpc_contract(LetterTemplateRequest, LetterTemplateView())
    def get_template(self, actor, letter_type, locale):
        actor = Actor.from_wire(actor)
        require(actor, Action.MANAGE_LETTERS)
        with self.store.reading() as session:
            return templates.view(session, letter_type, locale, letters.VARIABLES)

    @rpc
    @rpc_contract(SaveLetterTemplateRequest, LetterTemplateView())
    def save_template(self, actor, letter_type, locale, subject, html, text):
        """A new version; a template that does not render is refused with its line."""
        actor = Actor.from_wire(actor)
        require(actor, Action.MANAGE_LETTERS)
        with self.store.unit_of_work() as uow:
            templates.save(
                uow.session,
                letter_type,
                locale,
                templates.Parts(subject, html, text),
                actor.name or actor.id,
                letters.sample_context(get_settings().site.base_url),
            )
            return templates.view(uow.session, letter_type, locale, letters.VARIABLES)

    @rpc
    @rpc_contract(LetterTemplateRequest, LetterTemplateView())
    def reset_template(self, actor, letter_type, locale):
        actor = Actor.from_wire(actor)
        require(actor, Action.MANAGE_LETTERS)
        with self.store.unit_of_work() as uow:
            templates.reset(uow.session, letter_type, locale, actor.name or actor.id)
            return templates.view(uow.session, letter_type, locale, letters.VARIABLES)

    # --- recipients and the delivery log -----------------------------------------------

    @rpc
    @rpc_contract(SaveRecipientRequest, recipient_view)
    def save_recipient(self, actor, delivery):
        """The gateway tells letters who a staff user is (at sign-in) and how they want
        letters (immediately or in a daily digest)."""
        with self.store.unit_of_work() as uow:
            return recipient_view.dump(
                letters.save_recipient(uow.session, Actor.from_wire(actor), delivery)
            )

    @rpc
    @rpc_contract(DeliveriesRequest, deliveries_view)
    def list_deliveries(self, actor, deposit_id):
        with self.store.reading() as session:
            return deliveries_view.dump(
                letters.deliveries(session, Actor.from_wire(actor), deposit_id)
            )

    @rpc
    @rpc_contract(TokenExpiringRequest)
    def warn_token_expiry(self, key, recipient, token_name, token_prefix, expires_at):
        """The gateway's request to warn a token's owner before the token expires."""
        with self.store.unit_of_work() as uow:
            letter = letters.warn_token_expiry(
                uow.session,
                key,
                recipient,
                {"name": token_name, "prefix": token_prefix, "expires_at": expires_at},
                get_settings().site.base_url,
            )
            self._emit_failures(uow, [letter] if letter else [])
            to_send = pending_ids([letter] if letter else [])
        self._send_now(to_send)

    # --- timers ------------------------------------------------------------------------

    @timer(interval=60)
    def send_reminders_and_digests(self):
        settings = get_settings().mail
        now = datetime.now(UTC)
        with self.store.unit_of_work() as uow:
            queued = letters.send_reminders(uow.session, now, get_settings().site.base_url)
            queued += letters.send_digests(
                uow.session, now, settings.digest_hour, get_settings().site.base_url
            )
            self._emit_failures(uow, queued)
            to_send = pending_ids(queued)
        self._send_now(to_send)

    @timer(interval=5)
    def deliver_due(self):
        """Send what is due; letters wait in the outbox while the mail server is down.

        Each letter is claimed, sent and marked in a transaction of its own: a service that
        dies in the middle of a batch sends again at most the one letter it was sending
        (with the same Message-ID), never those already marked sent."""
        while True:
            with self.store.reading() as session:
                due = letters.due_letters(session, datetime.now(UTC), BATCH)
            outcomes = [self._deliver(letter_id) for letter_id in due]
            if len(due) < BATCH or all(status == "pending" for status in outcomes):
                return

    def _send_now(self, letter_ids: list[str]) -> None:
        """The letters a worker has just queued, each under its own claim; what cannot go
        out yet is left to `deliver_due`. When each worker sent everything due instead, the
        busy workers all claimed the same letters in turn, a transaction each."""
        for letter_id in letter_ids:
            self._deliver(letter_id)

    def _deliver(self, letter_id: str) -> str | None:
        """Send one letter; its status after (None: sent or taken meanwhile elsewhere)."""
        mail = get_settings().mail
        with self.store.unit_of_work() as uow:
            letter = letters.claim(uow.session, letter_id, datetime.now(UTC))
            if letter is None:
                return None
            # a letter that cannot be built never will be: failed at once, and the others
            # go out; one that cannot be sent yet waits
            try:
                message = build_message(
                    mail,
                    letter.id,
                    letter.recipient,
                    letter.recipient_name,
                    letter.subject,
                    letter.body_text,
                    letter.body_html,
                    self._unsubscribe_url() if letter.is_digest else None,
                )
            except Exception as err:  # noqa: BLE001 - whatever the cause, failed at once
                log.warning("letter %s cannot be built: %s", letter.id, err)
                letters.mark_failed(letter, f"cannot be built: {err}")
            else:
                try:
                    self.mailer.send(message)
                except Exception as err:  # noqa: BLE001 - SMTP errors are OSErrors; any other too
                    log.warning("letter %s not delivered yet: %s", letter.id, err)
                    letters.mark_attempt_failed(letter, str(err))
                else:
                    letters.mark_sent(letter, message["Message-ID"])
            if letter.status != "pending":
                self._emit_outcome(uow, letter)
            return letter.status

    @staticmethod
    def _unsubscribe_url() -> str:
        return f"{get_settings().site.base_url}/staff/letters/preferences"

    def _emit_failures(self, uow, queued):
        for letter in queued:
            if letter.status == "failed":
                self._emit_outcome(uow, letter)

    def _emit_outcome(self, uow, letter):
        event_type = "letter_sent" if letter.status == "sent" else "letter_failed"
        counter = LETTERS_SENT if letter.status == "sent" else LETTERS_FAILED
        uow.after_commit(counter.labels(letter.letter_type).inc)
        uow.emit(
            event_type,
            new_event(
                "letters",
                event_type,
                deposit_id=letter.deposit_id,
                revision=letter.revision,
                letter_id=letter.id,
                letter_type=letter.letter_type,
                recipient=letter.recipient,
                error=letter.last_error,
            ),
        )
