"""A patron's whole journey in a real browser (headless Debian Chromium through Playwright):
sign in, deposit a thesis with two files, see it returned with a reason, fix it,
resubmit, and find it archived with a link to the item. Screenshots are kept."""

import re

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot
from tests.support.system import expect

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CSV = b"site,moss_cover\nnorth,0.4\nsouth,0.2\n"


def sign_in(page, username):
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    see(page.get_by_role("heading", name="My deposits")).to_be_visible()


def wait_for_badge(page, text, timeout=30_000):
    """Reload the deposit page until its status badge says `text`."""
    waited = 0
    while waited < timeout:
        if page.locator(".heading .badge").inner_text() == text:
            return
        page.wait_for_timeout(250)
        waited += 250
        page.reload()
    see(page.locator(".heading .badge")).to_have_text(text)


def test_a_student_deposits_a_thesis_fixes_it_and_sees_it_archived(page, lodge_system, tmp_path):
    thesis, data = tmp_path / "moss-thesis.pdf", tmp_path / "moss-cover.csv"
    thesis.write_bytes(PDF)
    data.write_bytes(CSV)

    sign_in(page, "student")
    screenshot(page, "01-my-deposits")
    page.get_by_role("link", name="New deposit").first.click()
    see(page.get_by_role("heading", name="Thesis", exact=True)).to_be_visible()
    screenshot(page, "02-choose-profile")
    page.get_by_role("button", name="Start a deposit: Thesis").click()

    # the form the profile generates
    page.get_by_label("Title").fill("Mosses of the northern fells")
    page.locator("#m-creators-0").fill("Sam Student")
    page.locator("#m-creators-0-orcid").fill("0000-0002-1825-0097")
    page.get_by_label("Abstract").fill("A survey of mosses.")
    page.get_by_label("Date").fill("2026-05")
    page.get_by_label("Keywords").fill("moss, fells")
    page.get_by_label("Language").select_option("en")
    page.get_by_label("Degree").select_option("Master")

    # two files, each with its own progress bar, checked in the browser first
    page.locator("#file-input").set_input_files([str(thesis), str(data)])
    see(page.locator("#file-list .file.done")).to_have_count(2)
    page.locator("#file-input").set_input_files(str(thesis))
    see(page.locator("#file-list .file.done")).to_have_count(3)
    # the third copy is not wanted: remove it without leaving the page
    page.locator("#file-list .file.done").nth(2).get_by_role("button").click()
    see(page.locator("#file-list .file.done")).to_have_count(2)
    screenshot(page, "03-editor-with-files")

    # submitting without accepting the terms says what is missing, and keeps the input
    page.get_by_role("button", name="Submit").click()
    see(page.locator(".error-summary")).to_contain_text("the terms must be accepted")
    see(page.get_by_label("Title")).to_have_value("Mosses of the northern fells")
    page.get_by_label("I accept these terms.").check()
    page.get_by_role("button", name="Submit").click()
    see(page.get_by_text("Submitted. Lodge is checking your files now.")).to_be_visible()
    deposit_id = re.search(r"/deposits/([0-9a-f]{32})", page.url).group(1)
    wait_for_badge(page, "In review")
    screenshot(page, "04-in-review")

    # an approver returns it with a reason and a note
    approver = lodge_system.client("approver")
    expect(
        approver.post(
            f"/api/v1/reviews/{deposit_id}/actions/return",
            json={
                "reason_code": "metadata_incomplete",
                "note": "Please name your supervisor in the abstract.",
            },
        ),
        200,
    )
    wait_for_badge(page, "Returned for changes")
    see(page.locator(".card.returned")).to_contain_text("Please name your supervisor")
    see(page.locator(".card.returned")).to_contain_text("The description needs more detail")
    screenshot(page, "05-returned")

    page.get_by_role("link", name="Edit and submit again").click()
    see(page.get_by_role("heading", name="What to change")).to_be_visible()
    page.get_by_label("Abstract").fill("A survey of mosses, supervised by Prof. Lichen.")
    page.get_by_role("button", name="Submit").click()
    wait_for_badge(page, "In review")
    expect(approver.post(f"/api/v1/reviews/{deposit_id}/actions/approve", json={}), 200)
    wait_for_badge(page, "In the repository")
    see(page.get_by_text("revision 2")).to_be_visible()
    screenshot(page, "06-archived")

    page.get_by_role("link", name="See its page").click()
    see(page.get_by_role("heading", name="Mosses of the northern fells")).to_be_visible()
    see(page.locator(".file")).to_have_count(2)
    screenshot(page, "07-item-page")


def test_the_portal_speaks_german_when_asked(page):
    page.goto("/login")
    page.get_by_role("button", name="Deutsch").click()
    see(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    page.get_by_label("Benutzername").fill("faculty")
    page.get_by_label("Passwort").fill("demo")
    page.get_by_role("button", name="Anmelden").click()
    see(page.get_by_role("heading", name="Meine Ablieferungen")).to_be_visible()
    screenshot(page, "08-german-home")
    page.get_by_role("button", name="English").click()
    see(page.get_by_role("heading", name="My deposits")).to_be_visible()


def test_the_portal_fits_a_phone(page):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, "faculty")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "09-phone-home")
