"""Letters as a manager, an approver and a depositor meet them: the manager rewords the
"returned" letter on the staff page and previews it against the real deposit; the next
return sends the new wording to a real SMTP server, and both the depositor and staff see
it in the deposit's delivery log."""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_portal_browser import sign_in
from tests.support.smtp import SMTPServer
from tests.support.system import LodgeSystem, expect, poll_until

API = "/api/v1"
STUDENT_EMAIL = "student@example.edu"
APPROVER_EMAIL = "approver@example.edu"
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


@pytest.fixture(scope="module")
def smtp():
    with SMTPServer() as server:
        yield server


@pytest.fixture(scope="module")
def lodge(smtp):
    """A Lodge of its own whose letters go to the test's SMTP server."""
    system = LodgeSystem(
        "postgresql",
        label="letters",
        extra_env={**smtp.env(), "LODGE_MAIL_REPLY_TO": "Repository desk <desk@example.edu>"},
    )
    system.start()
    yield system
    system.stop()


@pytest.fixture
def browser_page(browser, lodge):
    with watched_page(browser, lodge.base_url, 1400, 1000) as page:
        yield page


def thesis_in_review(lodge, student, approver, title: str) -> dict:
    deposit = student.create_deposit(
        "thesis",
        {
            "title": title,
            "creators": [{"name": "Sam Student"}],
            "degree": "Master",
            "abstract": "Ten years of tide gauges along the coast.",
            "date": "2024-05-01",
        },
    )
    student.upload(deposit["id"], "thesis.pdf", PDF)
    student.submit(deposit["id"])
    lodge.wait_for_status(student, deposit["id"], "in_review")
    return deposit


def step(what: str) -> None:
    """Progress, for a long test on a loaded machine (seen with -s)."""
    print(f"[{time.strftime('%H:%M:%S')}] {what}", flush=True)


def letter_log(client, deposit_id: str) -> list[dict]:
    return expect(client.get(f"{API}/deposits/{deposit_id}/letters"), 200)["items"]


def sent_letters(client, deposit_id: str) -> int:
    return sum(row["status"] == "sent" for row in letter_log(client, deposit_id))


def letters_to(smtp, address: str, subject: str) -> list:
    return [m for m in smtp.to(address) if m["Subject"] == subject]


@pytest.mark.timeout(900)  # a Lodge of its own starts first, on a shared, loaded machine
def test_a_manager_rewords_the_returned_letter_and_the_next_return_sends_it(
    lodge, smtp, browser_page
):
    page = browser_page
    student, approver = lodge.client("student"), lodge.client("approver")
    title = f"Tidal patterns {uuid.uuid4().hex[:6]}"
    step("a thesis goes into review")
    deposit = thesis_in_review(lodge, student, approver, title)
    step("the approver's letter")

    # the seeded approver hears of the new deposit at once, by SMTP
    poll_until(
        lambda: letters_to(smtp, APPROVER_EMAIL, f'New deposit to review: "{title}"'),
        timeout=60,
        description="the approver's letter",
    )

    step("the manager finds the letter on the staff pages")
    sign_in(page, "manager")
    # locators, not wait_for_url: Playwright's navigation waits hang under eventlet
    page.click("nav >> text=Letters")
    see(page.get_by_role("heading", name="Letters", exact=True)).to_be_visible()
    page.click("a:has-text('Edit'):has(span:text('Returned for changes, English'))")
    see(page.get_by_role("heading", name="Returned for changes")).to_be_visible()
    assert page.url.endswith("/staff/letters/deposit_returned/en")
    assert page.input_value("#subject") == 'Changes requested for your deposit "{{ title }}"'

    # a broken template is refused with its line
    page.fill("#text", "Dear {{ recipient_name }},\n\n{% for change in %}\n")
    page.click("button[value=save]")
    assert "line 3" in page.inner_text("#text-error")
    assert page.input_value("#text").startswith("Dear {{ recipient_name }}")

    # the new wording, previewed against the real deposit
    page.fill("#subject", "{{ title }}: a few changes, please")
    page.fill(
        "#html",
        "<p>Hello {{ recipient_name }},</p>\n<p>Our editors ask for changes "
        "to <em>{{ title }}</em>:</p>\n<blockquote>{{ note }}</blockquote>\n"
        '<p><a href="{{ deposit_url }}">Make the changes</a></p>',
    )
    page.fill(
        "#text",
        "Hello {{ recipient_name }},\n\nOur editors ask for changes to "
        "{{ title }}:\n\n{{ note }}\n\nMake the changes: {{ deposit_url }}\n",
    )
    page.fill("#preview-deposit", deposit["id"])
    page.click("#preview-button")
    page.wait_for_function(
        "title => document.getElementById('preview-subject').textContent.includes(title)",
        arg=title,
        timeout=30_000,
    )
    assert page.inner_text("#preview-subject") == f"{title}: a few changes, please"
    assert "Our editors ask for changes to " + title in page.inner_text("#preview-text")
    frame = page.frame_locator("#preview-html")
    assert frame.locator("em").inner_text() == title
    screenshot(page, "letters-editor-preview")
    page.click("button[value=save]")
    assert "Saved as version 1" in page.inner_text(".flash")
    assert page.input_value("#subject") == "{{ title }}: a few changes, please"

    step("an approver returns the deposit over the API: the new wording goes out by SMTP")
    expect(
        approver.post(
            f"{API}/reviews/{deposit['id']}/actions/return",
            json={"reason_code": "metadata_incomplete", "note": "Please name the tide stations."},
        ),
        200,
    )
    [letter] = poll_until(
        lambda: letters_to(smtp, STUDENT_EMAIL, f"{title}: a few changes, please"),
        timeout=60,
        description="the reworded letter",
    )
    text = letter.get_body(("plain",)).get_content()
    html = letter.get_body(("html",)).get_content()
    assert f"Our editors ask for changes to {title}:" in text
    assert "Please name the tide stations." in text
    assert (
        f"<em>{title}</em>" in html
        and "<blockquote>Please name the tide stations.</blockquote>" in html
    )
    assert letter["Reply-To"].addresses[0].addr_spec == "desk@example.edu"
    assert letter["Message-ID"] and letter["Date"]

    step("staff see every letter about the deposit in its delivery log")
    manager = lodge.client("manager")
    poll_until(
        lambda: sent_letters(manager, deposit["id"]) >= 3,
        timeout=30,
        description="the letters marked sent",
    )
    page.goto(f"/deposits/{deposit['id']}")
    log = page.locator(".delivery-log")
    assert log.locator("h2").inner_text() == "Letters"
    assert log.locator("tr", has_text="a few changes").locator(".badge").inner_text() == "sent"
    told = log.locator("tr", has_text=f'New deposit to review: "{title}"')
    # the profile's approvers: the demo approvers, and the manager, who approves too
    recipients = " ".join(told.all_inner_texts())
    assert told.count() == 3
    assert all(
        address in recipients
        for address in (APPROVER_EMAIL, "approver2@example.edu", "manager@example.edu")
    )
    screenshot(page, "letters-delivery-log-staff")

    step("the depositor sees the letters sent to them, and only those")
    sign_in(page, "student")
    page.goto(f"/deposits/{deposit['id']}")
    log = page.locator(".delivery-log")
    assert log.locator("h2").inner_text() == "Messages sent to you"
    assert log.locator("tr", has_text=f"{title}: a few changes, please").count() == 1
    assert log.locator("tr", has_text=f'We received your deposit "{title}"').count() == 1
    assert log.locator("tr", has_text="New deposit to review").count() == 0
    assert APPROVER_EMAIL not in page.content()
    screenshot(page, "letters-delivery-log-depositor")


@pytest.mark.timeout(900)
def test_letters_reach_the_smtp_server_once_after_it_was_down(lodge, smtp):
    student = lodge.client("student")
    smtp.stop()
    try:
        deposit = student.create_deposit(
            "open-works",
            {
                "title": f"Down and up {uuid.uuid4().hex[:6]}",
                "creators": [{"name": "Sam"}],
                "abstract": "While the mail server was down.",
                "date": "2024-05-01",
            },
        )
        student.upload(deposit["id"], "work.pdf", PDF)
        student.submit(deposit["id"])
        lodge.wait_for_status(student, deposit["id"], "archived")
        manager = lodge.client("manager")

        def both_waiting():
            rows = letter_log(manager, deposit["id"])
            return len(rows) == 2 and all(
                row["status"] == "pending" and row["attempts"] >= 1 for row in rows
            )

        poll_until(both_waiting, timeout=60, description="both letters waiting for the server")
    finally:
        smtp.start()
    title = student.deposit(deposit["id"])["title"]
    for subject in (
        f'We received your deposit "{title}"',
        f'Your deposit "{title}" is in the repository',
    ):
        poll_until(
            lambda subject=subject: letters_to(smtp, STUDENT_EMAIL, subject),
            timeout=120,
            description=f"{subject!r} after the mail server came back",
        )
    poll_until(
        lambda: sent_letters(manager, deposit["id"]) == 2,
        timeout=30,
        description="both letters marked sent",
    )
    assert len([m for m in smtp.to(STUDENT_EMAIL) if title in m["Subject"]]) == 2


def test_a_patron_is_told_by_letter_who_deposited_in_their_name(lodge, smtp):
    staff = lodge.client("staff")
    title = f"Deposited for you {uuid.uuid4().hex[:6]}"
    deposit = staff.create_deposit(
        "open-works",
        {
            "title": title,
            "creators": [{"name": "Sam Student"}],
            "abstract": "Brought to the library desk on paper.",
            "date": "2024-05-01",
        },
        on_behalf_of="student",
    )
    staff.upload(deposit["id"], "work.pdf", PDF)
    staff.submit(deposit["id"])
    subject = f'A deposit was made for you: "{title}"'
    [letter] = poll_until(
        lambda: letters_to(smtp, STUDENT_EMAIL, subject),
        timeout=120,
        description="the letter about a deposit made in the patron's name",
    )
    text = letter.get_body(("plain",)).get_content()
    assert f'Robin Staff deposited "{title}" on your behalf' in text
    assert f"/deposits/{deposit['id']}" in text
    # the mediator gets no copy: the letter is the patron's
    assert not [m for m in smtp.to("staff@example.edu") if title in m["Subject"]]
