"""A DataCite that fails never stops archiving: the item is archived with its DOI, the
registration retries and then waits as a dead letter, the item's page shows the staff the
failure, and once DataCite is back a manager sends the DOI again and it registers.
Screenshots are kept, at desk and phone width."""

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_dois import registered
from tests.e2e.test_item_withdrawal_browser import archived_item
from tests.e2e.test_portal_browser import sign_in
from tests.support.system import csrf_token, expect, poll_until, signed_in

QUEUE = "evt-inventory-doi_sync_requested--inventory.on_doi_sync_requested"


def dead_letter_of(lodge_system, doi: str) -> dict | None:
    """The dead letter of the sync of `doi`, as the staff's operations tools show it."""
    admin = lodge_system.client("admin")
    letters = expect(
        admin.get(
            "/api/v1/staff/dead-letters/inventory",
            params={"per_page": 100, "queue": QUEUE},
        ),
        200,
    )["items"]
    for letter in letters:
        shown = expect(admin.get(f"/api/v1/staff/dead-letters/inventory/{letter['id']}"), 200)
        if doi in shown["payload"]:
            return shown
    return None


def test_a_failing_datacite_is_shown_to_staff_and_a_manager_retries(
    page, browser, lodge_system, datacite
):
    datacite.misbehave("fail")
    deposit = archived_item(lodge_system)  # archived all the same, DOI and all
    doi = deposit["item_doi"]
    # every attempt failed: the registration waits as a dead letter, with why
    letter = poll_until(
        lambda: dead_letter_of(lodge_system, doi), timeout=60, description="the dead letter"
    )
    assert letter["attempts"] == 5 and "DataCite answered 500" in letter["reason"]

    item_path = f"/items/{deposit['item_id']}"
    page.goto(item_path)  # nobody signed in: no staff section
    see(page.get_by_role("heading", name="DOI registration (staff)")).to_have_count(0)
    sign_in(page, "manager")
    page.goto(item_path)
    row = page.locator(".dois tbody tr", has_text=doi)
    see(row.locator(".access-badge")).to_have_text("failed")
    see(row).to_contain_text("DataCite answered 500: Internal server error")
    see(row.locator("td").nth(2)).to_have_text("5")
    screenshot(page, "30-item-doi-failed")

    with watched_page(browser, lodge_system.base_url, width=390, height=844) as phone:
        sign_in(phone, "staff")  # staff see the failure, but may not send it again
        phone.goto(item_path)
        see(phone.locator(".dois tbody tr", has_text=doi)).to_contain_text("failed")
        see(phone.get_by_role("button", name="Send to DataCite again")).to_have_count(0)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(phone, "31-item-doi-failed-phone")

    datacite.misbehave("ok")
    row.get_by_role("button", name="Send to DataCite again").click()
    see(page.get_by_text(f"DOI {doi} goes to DataCite again")).to_be_visible()
    registered(datacite, doi, "findable")
    page.reload()
    see(page.locator(".dois tbody tr", has_text=doi).locator(".access-badge")).to_have_text(
        "registered"
    )
    # the work's concept DOI, sent again with the item's: its row after the item's own
    concept = page.locator(".dois tbody tr").nth(1)
    see(concept).to_contain_text("(all versions)")
    see(concept.locator(".access-badge")).to_have_text("registered")
    screenshot(page, "32-item-doi-registered")


def test_retrying_a_doi_the_item_does_not_have_is_refused(lodge_system):
    deposit = archived_item(lodge_system)
    manager = signed_in(lodge_system, "manager")
    token = csrf_token(manager.get(f"{lodge_system.base_url}/items/{deposit['item_id']}").text)
    item, doi = deposit["item_id"], deposit["item_doi"]
    for asked_item, asked_doi, status in (
        (item, f"{doi}x", 404),  # a DOI the item does not have
        ("nothing", doi, 404),  # an item that does not exist
        (item, doi * 1000, 404),  # oversize
        (item, f"{doi}\x00\u202e", 422),  # control characters: refused before anything
    ):
        answer = manager.post(
            f"{lodge_system.base_url}/staff/items/{asked_item}/doi",
            data={"doi": asked_doi, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == status
    staff = signed_in(lodge_system, "staff")  # staff see DOIs; only managers send them again
    token = csrf_token(staff.get(f"{lodge_system.base_url}/items/{deposit['item_id']}").text)
    answer = staff.post(
        f"{lodge_system.base_url}/staff/items/{deposit['item_id']}/doi",
        data={"doi": deposit["item_doi"], "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 403
