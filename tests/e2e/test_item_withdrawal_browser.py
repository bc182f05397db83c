"""A manager withdraws an item from its page in a real browser; the page becomes a tombstone
and OAI-PMH reports the record deleted. Screenshots are kept."""

import requests
from lxml import etree
from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot
from tests.e2e.test_portal_browser import PDF, sign_in


def archived_item(lodge_system) -> dict:
    student = lodge_system.client("student")
    deposit = student.create_deposit(
        "open-works",
        {
            "title": "Lichens of old walls",
            "creators": [{"name": "Sam Student"}],
            "abstract": "Which lichens grow where.",
            "date": "2026-06-01",
        },
    )
    student.upload(deposit["id"], "lichens.pdf", PDF)
    student.submit(deposit["id"])
    return lodge_system.wait_for_status(student, deposit["id"], "archived", timeout=90)


def test_a_manager_withdraws_an_item_and_its_page_becomes_a_tombstone(page, lodge_system):
    deposit = archived_item(lodge_system)
    item_path = f"/items/{deposit['item_id']}"

    page.goto(item_path)  # not signed in: no withdraw button
    see(page.get_by_role("heading", name="Lichens of old walls")).to_be_visible()
    see(page.get_by_text("Withdraw item")).to_have_count(0)

    sign_in(page, "manager")
    page.goto(item_path)
    page.get_by_text("Withdraw item").click()
    page.get_by_label("Reason (shown on the tombstone page)").fill(
        "The author found an error in the data."
    )
    screenshot(page, "20-item-withdraw-form")
    page.get_by_role("button", name="Withdraw this item").click()
    see(page.locator(".tombstone", has_text="This item has been withdrawn")).to_be_visible()
    see(page.get_by_text("The author found an error in the data.")).to_be_visible()
    see(page.get_by_role("link", name="Download")).to_have_count(0)
    screenshot(page, "21-item-tombstone")

    root = etree.fromstring(
        requests.get(
            f"{lodge_system.base_url}/oai",
            timeout=30,
            params={
                "verb": "GetRecord",
                "metadataPrefix": "oai_dc",
                "identifier": f"oai:lodge.local:{deposit['item_identifier']}",
            },
        ).content
    )
    header = root.find(".//{http://www.openarchives.org/OAI/2.0/}header")
    assert header.get("status") == "deleted"
