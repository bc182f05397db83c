"""New versions and corrections in headless Chromium: the depositor starts a new version from
the landing page, which lists the versions; the older version points to the latest; a manager
corrects an item and its history shows on its page. Screenshots are kept (desktop and phone)."""

from __future__ import annotations

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_item_withdrawal_browser import archived_item
from tests.e2e.test_portal_browser import PDF, sign_in


def test_the_depositor_starts_a_new_version_and_the_pages_list_both(page, browser, lodge_system):
    first = archived_item(lodge_system)
    first_path = f"/items/{first['item_id']}"

    page.goto(first_path)  # not signed in: the list, no button
    see(page.get_by_role("heading", name="Versions")).to_be_visible()
    see(page.get_by_role("button", name="Start a new version")).to_have_count(0)

    sign_in(page, "student")
    page.goto(first_path)
    see(page.locator(".version-list li")).to_have_count(1)
    see(page.locator(".version-list")).to_contain_text("this version")
    page.get_by_role("button", name="Start a new version").click()
    see(page.get_by_text("A new version is started")).to_be_visible()
    see(page.get_by_text("A new version of a published work:")).to_be_visible()
    see(page.get_by_label("Title")).to_have_value("Lichens of old walls")
    draft_id = page.url.rstrip("/").split("/")[-2]
    screenshot(page, "40-new-version-draft")

    # pressing it again leads to the version already started
    page.goto(first_path)
    page.get_by_role("button", name="Start a new version").click()
    see(page.get_by_text("You have a new version of this work in progress already")).to_be_visible()

    student = lodge_system.client("student")
    deposit = student.deposit(draft_id)
    student.patch(
        f"/api/v1/deposits/{draft_id}",
        json={"metadata": {**deposit["metadata"], "title": "Lichens of old walls, revisited"}},
    )
    student.upload(draft_id, "lichens-2.pdf", PDF + b"% second\n")
    student.submit(draft_id)
    second = lodge_system.wait_for_status(student, draft_id, "archived", timeout=90)

    page.goto(first_path)
    see(page.get_by_text("This is not the latest version of this work.")).to_be_visible()
    screenshot(page, "41-older-version")
    page.get_by_role("link", name="See the latest version (version 2)").click()
    see(page.get_by_role("heading", level=1)).to_have_text("Lichens of old walls, revisited")
    see(page.locator(".version-list li")).to_have_count(2)
    see(page.locator(".version-list li[aria-current=page]")).to_contain_text("latest")
    assert page.url.endswith(f"/items/{second['item_id']}")
    # "Cite all versions": the work's identifier and its concept DOI
    see(page.locator(".versions a[href^='https://doi.org/']")).to_have_count(1)
    screenshot(page, "42-latest-version")

    with watched_page(browser, lodge_system.base_url, width=390, height=844) as phone:
        phone.goto(first_path)
        see(phone.get_by_role("heading", name="Versions")).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a phone"
        screenshot(phone, "43-versions-phone")


def test_a_manager_corrects_an_item_and_its_page_shows_the_history(page, browser, lodge_system):
    deposit = archived_item(lodge_system)
    item_path = f"/items/{deposit['item_id']}"
    sign_in(page, "manager")
    page.goto(item_path)
    page.get_by_role("link", name="Correct metadata").click()
    see(page.get_by_role("heading", level=1)).to_have_text("Lichens of old walls")
    page.get_by_label("dc:title 1").fill("Lichens of old stone walls")
    page.get_by_label("ORCID iD 1").fill("0000-0002-1825-0097")
    screenshot(page, "44-correction-form")
    page.get_by_role("button", name="Save the correction").click()
    # no reason: the browser keeps the form (required); with one it goes through
    page.get_by_label("Reason (kept in the history)").fill("The title lacked a word.")
    page.get_by_role("button", name="Save the correction").click()
    see(page.get_by_role("heading", level=1)).to_have_text("Lichens of old stone walls")
    see(page.get_by_role("heading", name="Corrections (staff)")).to_be_visible()
    see(page.locator(".corrections")).to_contain_text("The title lacked a word.")
    see(page.locator(".corrections")).to_contain_text("Sam Student (ORCID 0000-0002-1825-0097)")
    screenshot(page, "45-corrected-item")

    with watched_page(browser, lodge_system.base_url, width=390, height=844) as phone:
        sign_in(phone, "manager")
        phone.goto(f"/staff/items/{deposit['item_id']}/correct")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a phone"
        screenshot(phone, "46-correction-form-phone")
