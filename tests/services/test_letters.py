"""Letters' workers: one .eml per letter in the mail folder, once per event."""
import email
import email.policy
from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import update

from services.common.exceptions import InvalidInput
from services.letters.dependencies import MailFolder
from services.letters.models import Letter
from services.letters.service import LettersService
from tests.services.conftest import loaded_event, outbox


@pytest.fixture
def letters(database_for, tmp_path, lodge_env):
    database = database_for("letters")
    service = worker_factory(LettersService, store=database, mailer=MailFolder(tmp_path / "mail"))
    service.database = database
    service.mail_dir = tmp_path / "mail"
    return service


def changed(to_status, reason_code=None, note=None, report=None):
    return loaded_event(
        "intake", "deposit_status_changed", deposit_id="d1", revision=1, from_status="in_review",
        to_status=to_status, actor={"id": "u-approver", "name": "Alex"}, reason_code=reason_code,
        note=note, title="Über Moos", report=report,
        depositor={"id": "u1", "name": "Jürgen Student", "email": "jurgen@example.edu"})


def mails(letters):
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(letters.mail_dir.glob("*.eml"))]


def test_a_returned_deposit_gets_one_letter_with_the_reason(letters):
    event = changed("returned", "metadata_incomplete", "Please add the abstract.")
    letters.on_deposit_status_changed(event)
    letters.on_deposit_status_changed(event)
    [message] = mails(letters)
    assert message["Subject"] == 'Changes requested for your deposit "Über Moos"'
    assert message["To"].addresses[0].display_name == "Jürgen Student"
    assert message["Message-ID"] and message["Date"]
    assert "Please add the abstract." in message.get_content()
    assert [e["letter_type"] for e in outbox(letters.database, "letter_sent")] == ["deposit_returned"]


def test_steps_without_a_depositor_letter_send_none(letters):
    letters.on_deposit_status_changed(changed("in_review"))
    letters.on_deposit_status_changed(changed("approved"))
    assert mails(letters) == []


def test_letters_wait_while_the_mail_server_is_down(letters):
    class Down:
        def send(self, message):
            raise ConnectionRefusedError("mail server down")

    working, letters.mailer = letters.mailer, Down()
    letters.on_deposit_status_changed(changed("declined", "duplicate"))
    assert mails(letters) == [] and outbox(letters.database, "letter_sent") == []
    with letters.database.unit_of_work() as uow:  # skip the backoff
        uow.session.execute(update(Letter).values(next_attempt_at=datetime.now(timezone.utc)))
    letters.mailer = working
    letters.deliver_due()
    [message] = mails(letters)
    assert message["Subject"] == 'Your deposit "Über Moos" was declined'


def test_a_decision_letter_is_previewed_without_being_sent(letters):
    now = datetime.now(timezone.utc)
    deposit = {"id": "d1", "profile_id": "thesis", "profile_version": 1, "status": "in_review",
               "revision": 1, "title": "Über Moos", "metadata": {}, "files": [], "history": [],
               "depositor": {"id": "u1", "name": "Jürgen Student", "email": "j@example.edu"},
               "access": {"policy": "open"}, "allowed_actions": [], "created_at": now,
               "updated_at": now}
    preview = letters.preview_letter(letter_type="deposit_returned", deposit=deposit,
                                     reason_label="Metadata incomplete", note="Add the abstract.")
    assert preview["subject"] == 'Changes requested for your deposit "Über Moos"'
    assert "Metadata incomplete" in preview["text"] and "Add the abstract." in preview["text"]
    assert preview["locale"] == "en"
    assert mails(letters) == [] and outbox(letters.database, "letter_sent") == []
    with pytest.raises(InvalidInput):
        letters.preview_letter(letter_type="no_such_letter", deposit=deposit)
