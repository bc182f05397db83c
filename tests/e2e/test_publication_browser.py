"""Public pages and the staff pages for collections and fixity, in headless Chromium.
Screenshots are kept in test-artifacts/screenshots/."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot
from tests.e2e.test_portal_browser import sign_in
from tests.e2e.test_publication import (  # noqa: F401
    PDF,
    access_profiles,
    first_file,
    manager,
    publish,
)
from tests.support.system import expect

ABSTRACT = (
    "Peat bogs store a third of the world's soil carbon. Ten years of cores from "
    "three northern mires show how drainage and rewetting change that store."
)


def test_a_visitor_reads_a_landing_page_cites_it_and_downloads_the_file(page, lodge_system):
    word = "mire" + uuid.uuid4().hex[:6]
    item = publish(
        lodge_system,
        {
            "title": f"Carbon in northern peat bogs ({word})",
            "abstract": ABSTRACT,
            "keywords": ["peat", "carbon", "wetlands"],
            "language": "en",
            "creators": [
                {"name": "Sam Student", "orcid": "0000-0002-1825-0097"},
                {"name": "Fran Faculty"},
            ],
        },
    )
    page.goto(f"/items/{item['id']}")
    see(page.get_by_role("heading", level=1)).to_contain_text("Carbon in northern peat bogs")
    see(page.get_by_role("link", name="ORCID iD of Sam Student")).to_have_attribute(
        "href", "https://orcid.org/0000-0002-1825-0097"
    )
    see(page.locator("#citation")).to_contain_text("Student, S., & Faculty, F. (2026).")
    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert data["author"][0]["name"] == "Sam Student"
    page.get_by_role("button", name="Copy citation").click()
    see(page.get_by_role("button", name="Copied")).to_be_visible()
    screenshot(page, "20-landing-page")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download paper.pdf").click()
    assert download.value.suggested_filename == "paper.pdf"

    # the identifier leads back to the page
    page.goto(f"/id/{item['identifier']}")
    see(page).to_have_url(f"{lodge_system.base_url}/items/{item['id']}")

    # from a keyword to the search page, with filters
    page.get_by_role("link", name="peat", exact=True).click()
    see(page.get_by_role("heading", name="Search the repository")).to_be_visible()
    page.get_by_label("Search terms").fill(word)
    page.get_by_role("button", name="Search", exact=True).last.click()
    see(page.locator(".result")).to_have_count(1)
    page.get_by_label("Year").select_option("2026")
    page.get_by_role("button", name="Search", exact=True).last.click()
    see(page.locator(".result h3")).to_contain_text("Carbon in northern peat bogs")
    screenshot(page, "21-search")


def test_the_landing_page_says_until_when_an_embargo_lasts(page, lodge_system, access_profiles):
    until = date.today() + timedelta(days=90)
    item = publish(
        lodge_system,
        {"title": "Interviews with fell farmers", "abstract": "Oral history of upland farming."},
        access_profiles["embargo"],
        access={"policy": "embargo", "embargo_until": until.isoformat()},
    )
    page.goto(f"/items/{item['id']}")
    see(page.locator(".files-panel")).to_contain_text(f"under embargo until {until.isoformat()}")
    see(page.get_by_role("link", name="Download")).to_have_count(0)
    screenshot(page, "22-landing-page-embargoed")


def test_collections_are_browsed_by_visitors_and_managed_by_managers(page, lodge_system, manager):
    parent = "fieldwork-" + uuid.uuid4().hex[:6]
    publish(lodge_system, {"title": "Sediment cores of the Wash", "abstract": ABSTRACT})
    publish(
        lodge_system, {"title": "Salt marsh birds, 2020 to 2025", "abstract": "Counts of waders."}
    )

    sign_in(page, "manager")
    page.get_by_role("link", name="Collections", exact=True).click()
    see(page.get_by_role("heading", name="Collections", exact=True)).to_be_visible()
    page.get_by_label("ID", exact=True).fill(parent)
    page.get_by_label("Name").fill("Fieldwork")
    page.get_by_label("Description").fill("Data and reports from work in the field.")
    page.get_by_role("button", name="Create collection").click()
    see(page.get_by_text("Collection “Fieldwork” created.")).to_be_visible()
    # a bad id is explained next to the field
    page.get_by_label("ID", exact=True).fill("Not an id")
    page.get_by_label("Name").fill("Broken")
    page.locator("#c-id").evaluate("input => input.removeAttribute('pattern')")
    page.get_by_role("button", name="Create collection").click()
    see(page.locator("#c-id-error")).to_be_visible()
    screenshot(page, "23-staff-collections")

    # move Open works below Fieldwork, then see the tree and the browse page
    page.get_by_role("link", name="Open works").click()
    page.get_by_label("Inside").select_option(parent)
    page.get_by_role("button", name="Save").click()
    see(page.get_by_text("Saved.")).to_be_visible()
    see(page.locator("tr", has_text="Open works")).to_contain_text(f"{parent}:open-works")

    page.goto("/collections")
    see(page.locator(".tree .depth-1")).to_contain_text("Open works")
    screenshot(page, "24-collections")
    page.get_by_role("link", name="Fieldwork").click()
    see(page.get_by_role("heading", name="Fieldwork")).to_be_visible()
    see(page.locator(".result").first).to_be_visible()
    screenshot(page, "25-collection-browse")

    # and back, so other tests find the seed's tree as it was
    expect(manager.patch("/api/v1/collections/open-works", json={"parent_id": None}), 200)


def test_staff_see_a_corrupted_file_in_the_fixity_report(page, lodge_system):
    item = publish(
        lodge_system, {"title": "Bits that will rot"}, content=PDF + uuid.uuid4().hex.encode()
    )
    stored = first_file(item)
    path = lodge_system.data_dir / "storage" / "permanent" / item["deposit_id"] / stored["id"]
    path.write_bytes(b"not what was deposited")

    sign_in(page, "staff")
    page.goto("/staff/fixity")
    for _ in range(20):  # a batch at a time, oldest first, until this file's turn
        page.get_by_role("button", name="Check the next batch now").click()
        if page.locator(".failures tr", has_text=item["identifier"]).count():
            break
    row = page.locator(".failures tr", has_text=item["identifier"])
    see(row).to_contain_text("expected")
    see(page.locator(".staffbar a.alert")).to_be_visible()
    screenshot(page, "26-fixity-report")

    row.get_by_role("link").click()
    see(page.get_by_role("heading", name="Preservation (staff)")).to_be_visible()
    see(page.locator(".provenance tr.failure")).to_contain_text("fixity check")
    screenshot(page, "27-landing-page-provenance")
