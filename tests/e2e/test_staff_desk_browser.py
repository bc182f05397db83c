"""The staff desk in a real browser (headless Debian Chromium through Playwright): the demo
`staff` user deposits for `student` through the pages, the deposit reaches the repository
without approval, and the student finds it; the dashboard draws its chart."""

import re
import uuid
from datetime import date

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot
from tests.e2e.test_portal_browser import sign_in, wait_for_badge
from tests.support.system import expect

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def an_inactive_profile(lodge_system, mediators: dict | None) -> str:
    """A profile patrons can no longer use; staff may still deposit with it for a patron
    if it names them among its mediators."""
    name = f"Retired reports {uuid.uuid4().hex[:6]}"
    manager = lodge_system.client("manager")
    profile = expect(
        manager.post(
            "/api/v1/profiles",
            json={
                "id": f"retired-{uuid.uuid4().hex[:8]}",
                "name": name,
                "active": False,
                "description": "Technical reports from before 2020.",
                "fields": [
                    {
                        "key": "title",
                        "label": "Title",
                        "type": "text",
                        "required": True,
                        "dc": "title",
                    }
                ],
                "approval": {"mode": "manual"},
                "target_collection": "open-works",
                "mediators": mediators,
            },
        ),
        201,
    )
    assert profile["active"] is False
    return name


def test_staff_deposit_for_a_student_through_the_pages(page, lodge_system, tmp_path):
    retired = an_inactive_profile(lodge_system, {"roles": ["staff"]})
    closed = an_inactive_profile(lodge_system, None)
    thesis = tmp_path / "heather-thesis.pdf"
    thesis.write_bytes(PDF)
    title = f"Heather on the moor {uuid.uuid4().hex[:6]}"

    sign_in(page, "staff")
    page.get_by_role("link", name="Deposit for a patron").click()
    see(page.get_by_role("heading", name="Deposit for a patron")).to_be_visible()

    # the autocomplete: type, see the matches, choose with the keyboard
    search = page.get_by_role("combobox", name="Patron")
    search.press_sequentially("sam st", delay=40)
    options = page.get_by_role("listbox").get_by_role("option")
    see(options).to_have_count(1)
    see(options.first).to_contain_text("student@example.edu")
    see(search).to_have_attribute("aria-expanded", "true")
    search.press("ArrowDown")
    see(options.first).to_have_attribute("aria-selected", "true")
    search.press("Enter")
    see(page.locator("#patron-chosen")).to_contain_text("Sam Student")
    see(page.get_by_role("status")).to_have_text("Depositing for Sam Student.")

    # the profiles that let staff deposit for a patron, inactive ones marked
    inactive = page.locator(".profile-choice", has_text=retired)
    see(inactive.locator(".badge")).to_have_text("inactive")
    see(page.locator(".profile-choice", has_text=closed)).to_have_count(0)
    # other tests make profiles of their own, some named "Thesis …" too
    page.locator("input[name=profile_id][value=thesis]").check()
    screenshot(page, "20-mediated-deposit-form")
    page.get_by_role("button", name="Start the deposit").click()

    # the usual editor, for the student: creator and date filled in
    see(page.locator(".mediated-banner")).to_contain_text("You are depositing for Sam Student")
    see(page.locator("#m-creators-0")).to_have_value("Sam Student")
    see(page.get_by_label("Date")).to_have_value(date.today().isoformat())
    page.get_by_label("Title").fill(title)
    page.get_by_label("Abstract").fill("Heather regrowth after moorland fires.")
    page.get_by_label("Degree").select_option("Master")
    page.locator("#file-input").set_input_files(str(thesis))
    see(page.locator("#file-list .file.done")).to_have_count(1)
    page.get_by_label("I accept these terms.").check()
    screenshot(page, "21-mediated-deposit-editor")
    page.get_by_role("button", name="Submit").click()
    see(page.get_by_text("Submitted. Lodge is checking your files now.")).to_be_visible()
    deposit_id = re.search(r"/deposits/([0-9a-f]{32})", page.url).group(1)

    # no approver: straight into the repository, and the history says who mediated it
    wait_for_badge(page, "In the repository")
    approved = page.locator(".timeline .step.approved")
    see(approved).to_contain_text("Deposited by library staff")
    see(approved).to_contain_text("Staff-mediated by Robin Staff")
    screenshot(page, "22-mediated-deposit-archived")

    # the staff list shows where it is, and who deposited it for whom
    page.get_by_role("link", name="All deposits", exact=True).click()
    page.get_by_label("Title or depositor").fill(title)
    page.get_by_role("button", name="Find").click()
    row = page.locator("tbody tr", has_text=title)
    see(row).to_contain_text("Sam Student")
    see(row).to_contain_text("via Robin Staff")
    see(row.locator(".badge")).to_have_text("In the repository")

    # the student finds it among their deposits
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "student")
    page.get_by_role("link", name=title).click()
    assert deposit_id in page.url
    see(page.get_by_text("deposited for you by Robin Staff")).to_be_visible()
    wait_for_badge(page, "In the repository")


def test_the_dashboard_draws_submissions_and_decisions_per_week(page, lodge_system):
    student, approver = lodge_system.client("student"), lodge_system.client("approver")
    for outcome in ("approve", "return"):
        deposit = student.create_deposit(
            "thesis",
            {
                "title": f"Dashboard {outcome} {uuid.uuid4().hex[:6]}",
                "creators": [{"name": "Sam Student"}],
                "abstract": "A.",
                "date": "2026",
                "degree": "Master",
            },
        )
        student.upload(deposit["id"], "d.pdf", PDF)
        student.submit(deposit["id"])
        lodge_system.wait_for_status(student, deposit["id"], "in_review")
        expect(approver.post(f"/api/v1/reviews/{deposit['id']}/actions/{outcome}", json={}), 200)

    sign_in(page, "manager")
    page.get_by_role("link", name="Dashboard", exact=True).click()
    chart = page.get_by_role("img", name="Submissions and decisions per week")
    see(chart).to_be_visible()
    see(chart.locator("rect.bar.submitted").last).to_be_visible()
    see(chart.locator("rect.bar.approved").last).to_be_visible()
    see(page.locator(".tile.archived .count")).not_to_have_text("0")
    see(page.locator(".turnaround tbody tr", has_text="Thesis")).to_be_visible()
    screenshot(page, "23-dashboard")
    # the same figures as a table, for those who cannot see the chart
    page.get_by_text("The figures as a table").click()
    last_week = page.locator(".data-table tbody tr").last
    see(last_week.locator("td").first).not_to_have_text("0")
    page.get_by_label("Period", exact=True).select_option("4")
    see(page.locator(".data-table tbody tr")).to_have_count(4)
    # a status tile leads to those deposits
    page.locator(".tile.in_review a").click()
    see(page.get_by_label("Status", exact=True)).to_have_value("in_review")
