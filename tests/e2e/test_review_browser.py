"""Approvers and managers in a real browser (headless Chromium): work the queue, claim,
preview files, edit metadata, return with a reason after seeing the letter, decide in bulk;
a manager edits the reason tables. Screenshots are kept."""

from __future__ import annotations

import struct
import zlib

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot
from tests.e2e.test_lifecycles import (
    API,
    pdf_bytes,
    thesis_metadata,
    unique_title,
    wait_for_review,
)
from tests.e2e.test_staff_profiles import sign_in_with

TEXT = "Field notes <script>alert('x')</script> & mosses of the north\n"


def png_bytes(width: int = 48, height: int = 32) -> bytes:
    """A real PNG: a blue-green gradient."""
    rows = b"".join(
        b"\x00" + bytes(value for x in range(width) for value in (20, 90 + x * 3, 140 + y * 3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def thesis_in_review(lodge_system, student, approver, what: str, files=True) -> dict:
    title = unique_title(what)
    deposit = student.create_deposit("thesis", thesis_metadata(title))
    student.upload(deposit["id"], "thesis.pdf", pdf_bytes(title))
    if files:
        student.upload(deposit["id"], "map.png", png_bytes())
        student.upload(deposit["id"], "notes.txt", TEXT.encode())
    student.submit(deposit["id"])
    lodge_system.wait_for_status(student, deposit["id"], "in_review")
    wait_for_review(approver, deposit["id"], revision=1)
    return student.deposit(deposit["id"])


def test_approver_claims_previews_edits_and_returns_with_a_reason(lodge_system, page):
    student, approver = lodge_system.client("student"), lodge_system.client("approver")
    deposit = thesis_in_review(lodge_system, student, approver, "browser review")
    sign_in_with(page, lodge_system, "approver")

    page.goto("/staff/queue?tab=unassigned&sort=newest")
    see(page.get_by_role("link", name=deposit["title"])).to_be_visible()
    see(page.locator(".tab.current .count")).not_to_have_text("0")
    screenshot(page, "review-01-queue")
    page.keyboard.press("j")  # the keyboard reaches the first row and opens it
    see(page.locator("tr.active")).to_have_count(1)
    page.get_by_role("link", name=deposit["title"]).click()
    see(page.get_by_role("heading", name=deposit["title"], exact=True)).to_be_visible()

    page.get_by_role("button", name="Claim").click()
    see(page.locator(".task-actions .assignee")).to_have_text("Claimed by you")

    # previews: the image is decoded, the text is escaped, the PDF is framed by this site
    image = page.locator(".file-preview img")
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const img = document.querySelector('.file-preview img');"
        " return img.complete && img.naturalWidth === 48; }"
    )
    see(page.locator(".text-preview")).to_contain_text("<script>alert('x')</script>")
    assert page.locator(".file-preview script").count() == 0
    see(page.locator(".file-preview iframe.pdf")).to_have_count(1)
    # the checks the depositor sees, and the letters already sent about this deposit
    see(page.locator("#validation article.check-file").first).to_be_visible()
    see(page.locator(".delivery-log tr", has_text="New deposit to review").first).to_be_visible()

    # edit the metadata before deciding
    page.get_by_text("Edit the metadata").click()
    page.get_by_label("Title").fill(deposit["title"] + " (corrected)")
    page.get_by_role("button", name="Save metadata").click()
    see(page.locator(".flash.success")).to_contain_text("Metadata saved")
    see(page.get_by_role("heading", name=deposit["title"] + " (corrected)")).to_be_visible()
    see(page.locator("#history")).to_contain_text("Metadata edited")

    # a staff-only note
    page.get_by_label("New note").fill("Asked the supervisor about the appendix.")
    page.get_by_role("button", name="Add note").click()
    see(page.locator(".note-list")).to_contain_text("Asked the supervisor")

    # return: reason, note, then the letter preview, then confirm
    page.get_by_label("Return for changes").check()
    see(page.get_by_label("Reason for declining")).to_be_hidden()
    page.get_by_label("Reason for returning").select_option("wrong_file")
    page.get_by_label("Note to the depositor (optional)").fill("Please add the signed form.")
    screenshot(page, "review-02-review-page")
    page.get_by_role("button", name="Preview the letter").click()
    see(page.locator(".letter-preview")).to_contain_text("Please add the signed form.")
    screenshot(page, "review-03-letter-preview")
    page.get_by_role("button", name="Confirm: Return for changes").click()
    see(page.locator(".flash.success")).to_contain_text("Return for changes")

    returned = lodge_system.wait_for_status(student, deposit["id"], "returned")
    assert returned["history"][-1]["reason_code"] == "wrong_file"
    assert returned["title"].endswith("(corrected)")
    assert "Asked the supervisor" not in student.get(f"{API}/deposits/{deposit['id']}").text


def test_approver_decides_in_bulk_from_the_queue(lodge_system, page):
    student, approver = lodge_system.client("student"), lodge_system.client("approver")
    deposits = [
        thesis_in_review(lodge_system, student, approver, f"browser bulk {n}", files=False)
        for n in range(2)
    ]
    sign_in_with(page, lodge_system, "approver")
    page.goto("/staff/queue?tab=unassigned&sort=newest")
    # the reasons came with the queue: the bulk form offers the table's
    see(page.locator("#bulk-reason_return option[value=wrong_file]")).to_have_count(1)
    for deposit in deposits:
        page.get_by_label(f"Select {deposit['title']}").check()
    page.locator(".bulk").get_by_label("Approve").check()
    page.get_by_role("button", name="Decide on selected").click()
    see(page.locator(".bulk-results tr.ok")).to_have_count(2)
    screenshot(page, "review-04-bulk-results")
    for deposit in deposits:
        lodge_system.wait_for_status(student, deposit["id"], "archived")


def test_manager_edits_the_reason_tables(lodge_system, page):
    sign_in_with(page, lodge_system, "manager")
    page.goto("/staff/reasons")
    section = page.locator("[data-kind=decline]")
    section.get_by_label("Code").fill("plagiarism")
    section.get_by_label("Label").last.fill("The work copies others without credit")
    section.get_by_role("button", name="Add reason").click()
    see(page.locator(".flash.success")).to_have_text("Reason saved.")
    row = page.locator("[data-kind=decline] tr[data-code=plagiarism]")
    row.get_by_role("textbox").fill("Parts are copied without credit")
    row.get_by_label("default").check()
    row.get_by_role("button", name="Save").click()
    row = page.locator("[data-kind=decline] tr[data-code=plagiarism]")
    see(row.locator(".badge.good")).to_have_text("default")
    see(row.get_by_role("textbox")).to_have_value("Parts are copied without credit")
    screenshot(page, "review-05-reasons")
    # the old default is no longer one, and can now be removed
    old = page.locator("[data-kind=decline] tr[data-code=out_of_scope]")
    see(old.locator(".badge.good")).to_have_count(0)
    # put the original default back so other tests see the seeded tables
    old.get_by_label("default").check()
    old.get_by_role("button", name="Save").click()
    page.locator("[data-kind=decline] tr[data-code=plagiarism]").get_by_role(
        "button", name="Remove"
    ).click()
    see(page.locator("[data-kind=decline] tr[data-code=plagiarism]")).to_have_count(0)


def test_an_approvers_own_deposit_shows_in_the_queue_without_decide_controls(lodge_system, page):
    depositing, colleague = lodge_system.client("approver2"), lodge_system.client("approver")
    deposit = thesis_in_review(
        lodge_system, depositing, colleague, "browser own deposit", files=False
    )
    sign_in_with(page, lodge_system, "approver2")
    page.goto("/staff/queue?tab=unassigned&sort=newest")
    row = page.locator("tr", has=page.get_by_role("link", name=deposit["title"]))
    see(row.locator(".own-badge")).to_have_text("your own deposit")
    see(row.get_by_role("checkbox")).to_have_count(0)
    screenshot(page, "review-06-own-deposit-in-queue")
    row.get_by_role("link", name=deposit["title"]).click()
    see(page.locator(".own-deposit")).to_contain_text("A colleague reviews and decides on it.")
    see(page.get_by_role("button", name="Claim")).to_have_count(0)
    see(page.get_by_role("button", name="Preview the letter")).to_have_count(0)
    see(page.locator("#notes")).to_have_count(0)
