"""Letters: a letter for every lifecycle step, kept in an outbox until delivered."""
import logging
from datetime import datetime, timezone

from nameko.timer import timer

from services.common import contracts as c
from services.common.config import get_settings
from services.common.dependencies import Store
from services.common.exceptions import InvalidInput
from services.common.messaging import handles_event, rpc
from services.letters import letters
from services.letters.dependencies import Mailer, build_message

log = logging.getLogger(__name__)


class LettersService:
    name = "letters"

    store = Store()
    mailer = Mailer()

    @handles_event("intake", "deposit_status_changed")
    def on_deposit_status_changed(self, event):
        settings = get_settings()
        with self.store.unit_of_work() as uow:
            key = c.dedupe_key("intake", "deposit_status_changed", event)
            letter = letters.compose(uow, key, event, settings.base_url)
            if letter is not None and letter.status == "failed":
                self._emit_outcome(uow, letter)
        if letter is not None and letter.status == "pending":
            self.deliver_due()

    @rpc
    @c.rpc_contract(c.PreviewLetterRequest, c.LetterPreviewSchema())
    def preview_letter(self, letter_type, locale, deposit, reason_code, reason_label, note):
        try:
            return letters.preview(letter_type, locale, deposit, reason_code, reason_label, note,
                                   get_settings().base_url)
        except letters.RenderError as err:
            raise InvalidInput("The letter does not render.",
                               fields={"letter_type": [str(err)]}) from None

    @timer(interval=5)
    def deliver_due(self):
        """Send what is due; letters wait in the outbox while the mail server is down."""
        settings = get_settings()
        while True:
            with self.store.unit_of_work() as uow:
                due = letters.due_letters(uow.session, datetime.now(timezone.utc))
                for letter in due:
                    message = build_message(settings.mail_from, letter.recipient,
                                            letter.recipient_name, letter.subject, letter.body_text)
                    try:
                        self.mailer.send(message)
                    except OSError as err:
                        log.warning("letter %s not delivered yet: %s", letter.id, err)
                        letters.mark_attempt_failed(letter, str(err))
                    else:
                        letters.mark_sent(letter, message["Message-ID"])
                    if letter.status != "pending":
                        self._emit_outcome(uow, letter)
            if len(due) < 50 or all(letter.status == "pending" for letter in due):
                return

    def _emit_outcome(self, uow, letter):
        event_type = "letter_sent" if letter.status == "sent" else "letter_failed"
        uow.emit(event_type, c.new_event(
            "letters", event_type, deposit_id=letter.deposit_id, revision=letter.revision,
            letter_id=letter.id, letter_type=letter.letter_type, recipient=letter.recipient,
            error=letter.last_error))
