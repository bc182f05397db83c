"""Letters' workers on a real database, delivering to a real SMTP server (aiosmtpd)."""

from datetime import UTC, datetime, timedelta

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select, update

from kernel.contracts.exceptions import Forbidden, InvalidInput
from kernel.platform.config import get_settings
from services.letters.dependencies import SMTPTransport
from services.letters.models import Letter
from services.letters.service import LettersService
from tests.services.conftest import (
    APPROVER,
    MANAGER,
    OTHER_APPROVER,
    STUDENT,
    loaded_event,
    outbox,
)
from tests.support.smtp import SMTPServer
from tests.support.system import poll_until

JURGEN = {"id": "u1", "name": "Jürgen Student", "email": "jurgen@example.edu", "locale": "en"}


@pytest.fixture
def smtp():
    with SMTPServer() as server:
        yield server


@pytest.fixture
def letters(database_for, lodge_env, smtp):
    for name, value in smtp.env().items():
        lodge_env.setenv(name, value)
    lodge_env.setenv("LODGE_MAIL_FROM", "Lodge Bibliothèque <lodge@library.example.edu>")
    lodge_env.setenv("LODGE_MAIL_REPLY_TO", "Repository help <help@library.example.edu>")
    lodge_env.setenv("LODGE_BASE_URL", "https://lodge.example.edu")
    get_settings.cache_clear()
    database = database_for("letters")
    service = worker_factory(
        LettersService, store=database, mailer=SMTPTransport(get_settings().mail)
    )
    service.database = database
    return service


def changed(
    to_status, reason_code=None, note=None, report=None, depositor=JURGEN, revision=1, **extra
):
    return loaded_event(
        "intake",
        "deposit_status_changed",
        deposit_id="d1",
        revision=revision,
        from_status="in_review",
        to_status=to_status,
        actor={"id": "u-approver", "name": "Alex"},
        reason_code=reason_code,
        note=note,
        title="Über Moos",
        report=report,
        depositor=depositor,
        **extra,
    )


def in_review(deposit_id="d1", title="Über Moos", turnaround_days=None):
    return loaded_event(
        "intake",
        "deposit_status_changed",
        deposit_id=deposit_id,
        revision=1,
        from_status="submitted",
        to_status="in_review",
        actor={"id": "system"},
        title=title,
        depositor=JURGEN,
        review={
            "profile_name": "Thesis",
            "mode": "manual",
            "approver_groups": ["approvers"],
            "turnaround_days": turnaround_days,
        },
    )


def skip_backoff(database):
    with database.unit_of_work() as uow:
        uow.session.execute(update(Letter).values(next_attempt_at=datetime.now(UTC)))


def test_a_letter_arrives_with_correct_headers_and_both_parts(letters, smtp):
    event = changed("returned", "metadata_incomplete", "Please add the <abstract> & more.")
    letters.on_deposit_status_changed(event)
    [message] = poll_until(lambda: smtp.to("jurgen@example.edu"), description="the letter")
    assert message["Subject"] == 'Changes requested for your deposit "Über Moos"'
    assert message["To"].addresses[0].display_name == "Jürgen Student"
    assert message["From"].addresses[0].display_name == "Lodge Bibliothèque"
    assert message["Reply-To"].addresses[0].addr_spec == "help@library.example.edu"
    assert message["Message-ID"].endswith("@library.example.edu>")
    assert message["Date"].datetime.tzinfo is not None
    assert message["List-Unsubscribe"] is None  # only digests carry it
    raw = message.as_string()
    assert "=?utf-8?" in raw.split("\n\n", 1)[0].lower()  # non-ASCII headers are RFC 2047 words
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Please add the <abstract> & more." in text
    assert "Please add the &lt;abstract&gt; &amp; more." in html
    assert (
        "https://lodge.example.edu/deposits/d1" in text
        and 'href="https://lodge.example.edu/deposits/d1"' in html
    )
    assert [e["letter_type"] for e in outbox(letters.database, "letter_sent")] == [
        "deposit_returned"
    ]


def test_the_same_event_twice_sends_one_letter(letters, smtp):
    event = changed("declined", "duplicate")
    letters.on_deposit_status_changed(event)
    letters.on_deposit_status_changed(event)
    letters.deliver_due()
    assert len(smtp.to("jurgen@example.edu")) == 1
    with letters.database.reading() as session:
        assert len(session.scalars(select(Letter)).all()) == 1


def test_a_worker_sends_the_letters_it_queued_and_the_timer_the_rest(letters, smtp):
    """Busy workers do not all go through every due letter: each sends its own, and the
    timer those that waited."""
    smtp.stop()
    letters.on_deposit_status_changed(changed("submitted", revision=1))
    smtp.start()
    skip_backoff(letters.database)
    letters.on_deposit_status_changed(changed("declined", revision=1))
    assert [m["Subject"] for m in smtp.to("jurgen@example.edu")] == [
        'Your deposit "Über Moos" was declined'
    ]
    letters.deliver_due()
    assert sorted(m["Subject"] for m in smtp.to("jurgen@example.edu")) == [
        'We received your deposit "Über Moos"',
        'Your deposit "Über Moos" was declined',
    ]


def test_letters_wait_while_the_smtp_server_is_down_and_arrive_once(letters, smtp):
    smtp.stop()
    for status in ("submitted", "declined"):
        letters.on_deposit_status_changed(changed(status, revision=1))
    letters.on_deposit_status_changed(changed("withdrawn", revision=2))
    with letters.database.reading() as session:
        waiting = [(row.status, row.last_error) for row in session.scalars(select(Letter))]
    assert [status for status, _ in waiting] == ["pending"] * 3
    assert all(error for _, error in waiting)  # the reason it waits is kept
    smtp.start()
    skip_backoff(letters.database)
    letters.deliver_due()
    letters.deliver_due()
    subjects = sorted(m["Subject"] for m in smtp.to("jurgen@example.edu"))
    assert subjects == [
        'We received your deposit "Über Moos"',
        'Your deposit "Über Moos" was declined',
        'Your deposit "Über Moos" was withdrawn',
    ]


def test_a_german_depositor_gets_the_german_letter(letters, smtp):
    letters.on_deposit_status_changed(
        changed(
            "returned",
            "metadata_incomplete",
            "Bitte ergänzen.",
            depositor={**JURGEN, "locale": "de"},
        )
    )
    [message] = smtp.to("jurgen@example.edu")
    assert message["Subject"] == "Änderungen erbeten für Ihre Einreichung „Über Moos“"
    assert "Bitte ergänzen." in message.get_body(("plain",)).get_content()


def test_an_internationalised_address_is_delivered_with_smtputf8(letters, smtp):
    letters.on_deposit_status_changed(
        changed("submitted", depositor={**JURGEN, "email": "jürgen@exämple.edu"})
    )
    [message] = smtp.to("jürgen@exämple.edu")
    assert message["To"].addresses[0].addr_spec == "jürgen@exämple.edu"


def test_a_patron_told_that_staff_deposited_for_them(letters, smtp):
    letters.on_deposit_status_changed(
        changed("submitted", mediated_by={"id": "u-staff", "name": "Robin Staff"})
    )
    [message] = smtp.to("jurgen@example.edu")
    assert message["Subject"] == 'A deposit was made for you: "Über Moos"'
    assert "Robin Staff deposited" in message.get_body(("plain",)).get_content()


def test_a_broken_template_is_refused_at_save_with_its_line(letters):
    with pytest.raises(InvalidInput) as refused:
        letters.save_template(
            actor=MANAGER,
            letter_type="deposit_returned",
            locale="en",
            subject="Changes for {{ title }}",
            html="<p>{{ title }}</p>",
            text="Dear {{ recipient_name }},\n\n{{ titel }}\n",
        )
    assert refused.value.fields == {"text": ["line 3: 'titel' is undefined"]}
    with pytest.raises(InvalidInput) as refused:
        letters.save_template(
            actor=MANAGER,
            letter_type="deposit_returned",
            locale="en",
            subject="x",
            html="<p>\n{% if note %}\n</p>",
            text="x",
        )
    assert refused.value.fields["html"][0].startswith("line 2:")  # where the open "if" is
    assert "endif" in refused.value.fields["html"][0]
    with pytest.raises(Forbidden):
        letters.save_template(
            actor=APPROVER,
            letter_type="deposit_returned",
            locale="en",
            subject="x",
            html="x",
            text="x",
        )


def test_a_saved_template_is_used_versioned_and_reset_to_the_default(letters, smtp):
    saved = letters.save_template(
        actor=MANAGER,
        letter_type="deposit_returned",
        locale="en",
        subject="Please revise {{ title }}",
        html="<p>We need a change: {{ note }}</p>",
        text="We need a change: {{ note }}\n",
    )
    assert saved["version"] == 1 and not saved["is_default"]
    letters.on_deposit_status_changed(changed("returned", "x", "Add a summary."))
    [message] = smtp.to("jurgen@example.edu")
    assert message["Subject"] == "Please revise Über Moos"
    assert message.get_body(("plain",)).get_content() == "We need a change: Add a summary.\n"
    reset = letters.reset_template(actor=MANAGER, letter_type="deposit_returned", locale="en")
    assert reset["is_default"] and reset["version"] == 2
    assert [v["is_default"] for v in reset["versions"]] == [True, False]
    assert reset["subject"] == 'Changes requested for your deposit "{{ title }}"'


def test_a_template_error_at_send_time_fails_that_letter_only(letters, smtp):
    with letters.database.unit_of_work() as uow:  # a template saved before a variable was removed
        from services.letters.models import LetterTemplate

        uow.session.add(
            LetterTemplate(
                letter_type="deposit_declined",
                locale="en",
                version=1,
                subject="x",
                html="x",
                text="{{ gone }}",
                created_by="old",
            )
        )
    letters.on_deposit_status_changed(changed("declined"))
    letters.on_deposit_status_changed(changed("withdrawn", revision=2))
    with letters.database.reading() as session:
        error = session.scalars(select(Letter.last_error).where(Letter.status == "failed")).one()
    assert "line 1" in error and "gone" in error
    [failure] = outbox(letters.database, "letter_failed")
    assert failure["letter_type"] == "deposit_declined"
    assert [m["Subject"] for m in smtp.to("jurgen@example.edu")] == [
        'Your deposit "Über Moos" was withdrawn'
    ]


def test_approvers_of_the_profile_are_told_of_a_new_deposit(letters, smtp):
    letters.save_recipient(actor=APPROVER, delivery=None)
    letters.save_recipient(
        actor={**OTHER_APPROVER, "email": "ari@example.edu", "groups": ["elsewhere"]}, delivery=None
    )
    letters.save_recipient(actor=STUDENT, delivery=None)
    letters.on_deposit_status_changed(in_review())
    [message] = smtp.to(APPROVER["email"])
    assert message["Subject"] == 'New deposit to review: "Über Moos"'
    assert "Jürgen Student submitted" in message.get_body(("plain",)).get_content()
    assert smtp.to("ari@example.edu") == [] and smtp.to(STUDENT["email"]) == []
    assert smtp.to("jurgen@example.edu") == []  # the depositor had their letter at submit


def remind_overdue(letters, lodge_env, digest_hour: int = 24):
    """Every waiting deposit due an hour ago, and the reminders timer run (with the
    digests' send hour at 24 by default: no digest today)."""
    from services.letters.models import PendingReview

    with letters.database.unit_of_work() as uow:
        uow.session.execute(
            update(PendingReview).values(due_at=datetime.now(UTC) - timedelta(hours=1))
        )
    lodge_env.setenv("LODGE_DIGEST_HOUR", str(digest_hour))
    get_settings.cache_clear()
    letters.send_reminders_and_digests()


def test_an_approver_is_not_asked_to_review_their_own_deposit(letters, smtp, lodge_env):
    depositing = {**OTHER_APPROVER, "email": "ari@example.edu"}
    letters.save_recipient(actor=APPROVER, delivery=None)
    letters.save_recipient(actor=depositing, delivery="digest")
    event = in_review(turnaround_days=1)
    event["depositor"] = {
        "id": depositing["id"],
        "name": depositing["name"],
        "email": depositing["email"],
        "locale": "en",
    }
    letters.on_deposit_status_changed(event)
    remind_overdue(letters, lodge_env, digest_hour=0)
    assert [m["Subject"] for m in smtp.to(APPROVER["email"])] == [
        'New deposit to review: "Über Moos"',
        'Overdue for review: "Über Moos"',
    ]
    assert smtp.to("ari@example.edu") == []  # no letter, no digest entry, no reminder


def test_digest_approvers_get_one_digest_listing_everything(letters, smtp, lodge_env):
    letters.save_recipient(actor=APPROVER, delivery="digest")
    letters.save_recipient(actor={**OTHER_APPROVER, "email": "ari@example.edu"}, delivery=None)
    for n in range(3):
        letters.on_deposit_status_changed(in_review(f"d{n}", f"Deposit {n}"))
    assert smtp.to(APPROVER["email"]) == [] and len(smtp.to("ari@example.edu")) == 3
    lodge_env.setenv("LODGE_DIGEST_HOUR", "0")
    get_settings.cache_clear()
    letters.send_reminders_and_digests()
    letters.send_reminders_and_digests()  # once a day, however often the timer fires
    [digest] = smtp.to(APPROVER["email"])
    assert digest["Subject"] == "Lodge: 3 deposit(s) for your attention"
    assert digest["List-Unsubscribe"] == "<https://lodge.example.edu/staff/letters/preferences>"
    text = digest.get_body(("plain",)).get_content()
    for n in range(3):
        assert f"New: Deposit {n}" in text and f"https://lodge.example.edu/deposits/d{n}" in text


def test_overdue_deposits_remind_their_approvers_once(letters, smtp, lodge_env):
    letters.save_recipient(actor=APPROVER, delivery=None)
    letters.on_deposit_status_changed(in_review(turnaround_days=1))
    lodge_env.setenv("LODGE_DIGEST_HOUR", "24")  # no digest today
    get_settings.cache_clear()
    letters.send_reminders_and_digests()
    assert len(smtp.to(APPROVER["email"])) == 1  # not overdue yet
    from services.letters.models import PendingReview

    with letters.database.unit_of_work() as uow:
        uow.session.execute(
            update(PendingReview).values(due_at=datetime.now(UTC) - timedelta(hours=1))
        )
    letters.send_reminders_and_digests()
    letters.send_reminders_and_digests()
    subjects = [m["Subject"] for m in smtp.to(APPROVER["email"])]
    assert subjects == ['New deposit to review: "Über Moos"', 'Overdue for review: "Über Moos"']


def test_a_decided_deposit_is_no_longer_overdue(letters, smtp, lodge_env):
    letters.save_recipient(actor=APPROVER, delivery=None)
    letters.on_deposit_status_changed(in_review(turnaround_days=1))
    letters.on_deposit_status_changed(changed("declined"))
    remind_overdue(letters, lodge_env)
    assert [m["Subject"] for m in smtp.to(APPROVER["email"])] == [
        'New deposit to review: "Über Moos"'
    ]


def test_a_decision_handled_before_the_review_began_asks_nobody(letters, smtp, lodge_env):
    """One deposit's steps are handled at once by several workers, or one is delivered
    again late: the decision can come first, and the review it ended is never reopened."""
    letters.save_recipient(actor=APPROVER, delivery=None)
    letters.on_deposit_status_changed(changed("approved"))
    letters.on_deposit_status_changed(in_review(turnaround_days=1))
    remind_overdue(letters, lodge_env)
    assert smtp.to(APPROVER["email"]) == []


def test_a_resubmitted_deposit_waits_for_review_again(letters, smtp, lodge_env):
    letters.save_recipient(actor=APPROVER, delivery=None)
    letters.on_deposit_status_changed(in_review(turnaround_days=1))
    again = in_review(turnaround_days=1)
    again["revision"] = 2
    letters.on_deposit_status_changed(again)
    # the first revision's return, handled after the second entered review, ends nothing
    letters.on_deposit_status_changed(changed("returned"))
    remind_overdue(letters, lodge_env)
    assert [m["Subject"] for m in smtp.to(APPROVER["email"])] == [
        'New deposit to review: "Über Moos"',
        'New deposit to review: "Über Moos"',
        'Overdue for review: "Über Moos"',
    ]


def test_the_marks_of_ended_reviews_are_cleared_after_a_while(letters):
    from services.letters.letters import LEFT_REVIEW_KEPT
    from services.letters.models import PendingReview

    letters.on_deposit_status_changed(in_review("d1"))
    letters.on_deposit_status_changed(in_review("d2"))
    letters.on_deposit_status_changed(changed("approved"))  # d1
    with letters.database.unit_of_work() as uow:
        uow.session.execute(
            update(PendingReview)
            .where(PendingReview.deposit_id == "d1")
            .values(left_at=datetime.now(UTC) - LEFT_REVIEW_KEPT - timedelta(minutes=1))
        )
    letters.send_reminders_and_digests()
    with letters.database.reading() as session:
        assert [row.deposit_id for row in session.scalars(select(PendingReview))] == ["d2"]


def test_the_delivery_log_shows_staff_everything_and_a_depositor_their_own(letters, smtp):
    letters.save_recipient(actor=APPROVER, delivery=None)
    letters.on_deposit_status_changed(in_review())
    letters.on_deposit_status_changed(changed("returned", "x", "Fix it."))
    staff_view = letters.list_deliveries(actor=MANAGER, deposit_id="d1")
    assert [(d["letter_type"], d["status"]) for d in staff_view] == [
        ("review_requested", "sent"),
        ("deposit_returned", "sent"),
    ]
    depositor_view = letters.list_deliveries(actor={**STUDENT, "id": JURGEN["id"]}, deposit_id="d1")
    assert [d["letter_type"] for d in depositor_view] == ["deposit_returned"]
    assert depositor_view[0]["sent_at"] and depositor_view[0]["subject"].startswith("Changes")
    assert letters.list_deliveries(actor=STUDENT, deposit_id="d1") == []


def test_a_template_is_previewed_against_a_deposit_without_being_sent(letters, smtp):
    now = datetime.now(UTC)
    deposit = {
        "id": "d1",
        "profile_id": "thesis",
        "profile_version": 1,
        "status": "in_review",
        "revision": 1,
        "title": "Über Moos",
        "metadata": {},
        "files": [],
        "history": [],
        "depositor": {"id": "u1", "name": "Jürgen Student", "email": "j@example.edu"},
        "access": {"policy": "open"},
        "allowed_actions": [],
        "created_at": now,
        "updated_at": now,
    }
    preview = letters.preview_letter(
        letter_type="deposit_returned",
        deposit=deposit,
        reason_label="Metadata incomplete",
        note="Add the abstract.",
    )
    assert preview["subject"] == 'Changes requested for your deposit "Über Moos"'
    assert "Metadata incomplete" in preview["text"] and "Add the abstract." in preview["html"]
    unsaved = letters.preview_template(
        actor=MANAGER,
        letter_type="deposit_returned",
        locale="en",
        subject="Revise {{ title }}",
        html="<p>{{ recipient_name }}</p>",
        text="{{ deposit_url }}",
        deposit=deposit,
    )
    assert unsaved["subject"] == "Revise Über Moos" and unsaved["html"] == "<p>Jürgen Student</p>"
    sample = letters.preview_template(
        actor=MANAGER,
        letter_type="deposit_returned",
        locale="en",
        subject="Revise {{ title }}",
        html="",
        text="x",
        deposit=None,
    )
    assert sample["subject"] == "Revise Tidal patterns of the Wadden Sea"
    assert smtp.messages == [] and outbox(letters.database, "letter_sent") == []
    with pytest.raises(InvalidInput):
        letters.preview_letter(letter_type="no_such_letter", deposit=deposit)


def test_an_abandoned_draft_warns_its_depositor_once_then_says_it_was_removed(letters, smtp):
    expires_at = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
    warning = loaded_event(
        "intake",
        "draft_expiring",
        deposit_id="d1",
        revision=1,
        title="Über Moos",
        depositor=JURGEN,
        expires_at=expires_at,
    )
    letters.on_draft_expiring(warning)
    letters.on_draft_expiring(warning)  # delivered twice: one letter
    [message] = poll_until(lambda: smtp.to("jurgen@example.edu"), description="the warning")
    assert message["Subject"] == 'Your unfinished deposit "Über Moos" will be removed on 2027-06-01'
    assert "https://lodge.example.edu/deposits/d1" in message.get_body(("plain",)).get_content()
    # touched and warned again later: a new warning with its new date
    letters.on_draft_expiring(
        loaded_event(
            "intake",
            "draft_expiring",
            deposit_id="d1",
            revision=1,
            title="Über Moos",
            depositor=JURGEN,
            expires_at=expires_at + timedelta(days=180),
        )
    )
    letters.on_deposit_status_changed(changed("withdrawn", "draft_expired"))
    subjects = [
        m["Subject"]
        for m in poll_until(
            lambda: len(smtp.to("jurgen@example.edu")) == 3 and smtp.to("jurgen@example.edu"),
            description="three letters",
        )
    ]
    assert subjects[1:] == [
        'Your unfinished deposit "Über Moos" will be removed on 2027-11-28',
        'Your unfinished deposit "Über Moos" was removed',
    ]
    assert [e["letter_type"] for e in outbox(letters.database, "letter_sent")] == [
        "draft_expiring",
        "draft_expiring",
        "draft_expired",
    ]


def test_a_token_owner_is_warned_once_before_the_token_expires(letters, smtp):
    expires = datetime.now(UTC) + timedelta(days=10)
    request = {
        "key": "api-token:t1:expiry",
        "recipient": JURGEN,
        "token_name": "nightly harvest",
        "token_prefix": "lodge_AbCdEf",
        "expires_at": expires.isoformat(),
    }
    letters.warn_token_expiry(**request)
    letters.warn_token_expiry(**request)  # the gateway asked again: still one letter
    [message] = poll_until(lambda: smtp.to("jurgen@example.edu"), description="the warning")
    assert message["Subject"] == (
        f'Your Lodge API token "nightly harvest" expires on {expires:%Y-%m-%d}'
    )
    assert "https://lodge.example.edu/account/tokens" in message.get_body(("plain",)).get_content()
    letters.deliver_due()
    assert len(smtp.to("jurgen@example.edu")) == 1
    [sent] = outbox(letters.database, "letter_sent")
    assert sent["letter_type"] == "token_expiring" and sent["deposit_id"] == ""


@pytest.mark.parametrize(
    "change",
    [
        {"key": ""},
        {"key": "k" * 201},
        {"token_prefix": "p" * 13},
        {"expires_at": "soon"},
        {"recipient": {"name": "no id"}},
        {"token_name": ["a"]},
    ],
)
def test_a_token_warning_request_is_checked_against_its_contract(letters, change):
    request = {
        "key": "api-token:t2:expiry",
        "recipient": JURGEN,
        "token_name": "",
        "token_prefix": "lodge_AbCdEf",
        "expires_at": datetime.now(UTC).isoformat(),
        **change,
    }
    with pytest.raises(InvalidInput):
        letters.warn_token_expiry(**request)


def test_a_letter_that_cannot_be_built_fails_alone_and_the_others_go_out(letters, smtp):
    unbuildable = {**JURGEN, "id": "u2", "name": "Mallory", "email": '"mal\nlory"@example.edu'}
    broken_name = {
        **JURGEN,
        "id": "u3",
        "name": "Jürgen\r\nBcc: all@example.edu",
        "email": "j3@example.edu",
    }
    letters.on_deposit_status_changed(changed("declined", depositor=unbuildable))
    letters.on_deposit_status_changed(changed("declined", depositor=broken_name))
    letters.on_deposit_status_changed(changed("declined"))
    letters.deliver_due()
    [named] = smtp.to("j3@example.edu")
    assert named["To"] == '"Jürgen Bcc: all@example.edu" <j3@example.edu>'  # one line, no Bcc
    assert smtp.to("all@example.edu") == []
    assert len(smtp.to("jurgen@example.edu")) == 1
    [failed] = [
        d for d in letters.list_deliveries(actor=MANAGER, deposit_id="d1") if d["status"] != "sent"
    ]
    assert failed["status"] == "failed" and failed["recipient"] == '"mal\nlory"@example.edu'
    with letters.database.reading() as session:
        error = session.scalar(select(Letter.last_error).where(Letter.status == "failed"))
    assert error.startswith("cannot be built:")
    assert [e["recipient"] for e in outbox(letters.database, "letter_failed")] == [
        '"mal\nlory"@example.edu'
    ]


class Killed(BaseException):
    """The service process dying: nothing catches it."""


class DiesAfterSending:
    """The real SMTP transport, in a process that dies just after the mail server took its
    `nth` message, before the service noted the letter sent."""

    def __init__(self, transport, nth: int):
        self.transport, self.nth, self.sent = transport, nth, 0

    def send(self, message):
        self.transport.send(message)
        self.sent += 1
        if self.sent == self.nth:
            raise Killed()


def test_a_service_killed_in_the_middle_of_a_batch_sends_no_letter_already_sent_again(
    letters, smtp
):
    smtp.stop()
    for status in ("submitted", "declined"):
        letters.on_deposit_status_changed(changed(status, revision=1))
    letters.on_deposit_status_changed(changed("withdrawn", revision=2))
    smtp.start()
    skip_backoff(letters.database)
    transport = letters.mailer
    letters.mailer = DiesAfterSending(transport, nth=2)
    with pytest.raises(Killed):
        letters.deliver_due()
    first, in_the_window = (message["Message-ID"] for message in smtp.messages)

    letters.mailer = transport  # the service started again
    letters.deliver_due()
    received = [message["Message-ID"] for message in smtp.to("jurgen@example.edu")]
    assert len(received) == 4 and len(set(received)) == 3
    assert received.count(first) == 1
    # the one letter in flight when the service died went again, known by its Message-ID
    assert received.count(in_the_window) == 2
    with letters.database.reading() as session:
        noted = [(row.status, row.message_id) for row in session.scalars(select(Letter))]
    assert sorted(noted) == [("sent", message_id) for message_id in sorted(set(received))]
