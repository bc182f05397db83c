"""A manager asks for an item's preservation export from its landing page, in headless
Chromium, at desktop and phone width."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_portal_browser import sign_in
from tests.e2e.test_publication import PDF, publish
from tests.support.accessibility import horizontal_overflow, sticking_out


def test_a_manager_exports_an_item_from_its_landing_page(browser, lodge_system):
    item = publish(lodge_system, {"title": "Bogs to keep"}, content=PDF + uuid.uuid4().hex.encode())
    with watched_page(browser, lodge_system.base_url) as page:
        sign_in(page, "manager")
        page.goto(f"/items/{item['id']}")
        section = page.locator("section.bag-export")
        see(section).to_contain_text("Not exported yet.")
        section.get_by_role("button", name="Export now").click()
        see(page.locator(".flash.success")).to_contain_text("exported as a bag")
        # inventory's timer (every second in these tests) makes the bag
        for _ in range(100):
            if "Last exported" in section.inner_text():
                break
            page.reload()
        see(section).to_contain_text("Last exported")
        see(section.locator("code.location")).to_contain_text("bags/")
        screenshot(page, "28-landing-page-bag-export")

    with watched_page(browser, lodge_system.base_url, width=375, height=800) as phone:
        sign_in(phone, "staff")  # staff see the export; only managers may ask for one
        phone.goto(f"/items/{item['id']}")
        see(phone.locator("section.bag-export")).to_contain_text("Last exported")
        see(phone.get_by_role("button", name="Export now")).to_have_count(0)
        assert horizontal_overflow(phone) == 0, sticking_out(phone)
        screenshot(phone, "29-landing-page-bag-export-phone")
