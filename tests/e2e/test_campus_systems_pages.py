"""Managers register campus systems on a whole Lodge: the staff page in headless Chromium at
desk and phone widths, a token made there opening the API, deactivation ending it; the API
checking the profiles named against intake's."""

from __future__ import annotations

import uuid

import pytest
import requests
from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_portal_browser import sign_in
from tests.support.accessibility import horizontal_overflow, sticking_out
from tests.support.system import csrf_token, expect, signed_in

API = "/api/v1/staff/systems"


def bearer(lodge_system, token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@pytest.mark.parametrize("width", [1280, 390])
def test_a_manager_registers_a_system_makes_its_token_and_deactivates_it(
    lodge_system, browser, width
):
    name = f"lms-{uuid.uuid4().hex[:8]}"
    with watched_page(browser, lodge_system.base_url, width=width) as page:
        sign_in(page, "manager")
        if width > 600:
            page.get_by_role("link", name="Campus systems").click()
        else:
            page.goto("/staff/systems")
        see(page.get_by_role("heading", name="Campus systems", exact=True)).to_be_visible()
        form = page.locator("form", has=page.get_by_role("heading", name="Register a system"))
        # a refusal keeps what was typed and says what is wrong, by the field
        form.get_by_label("Name").fill(name)
        form.get_by_label("Label").fill("Learning platform")
        form.get_by_label("Hosts its files may come from").fill("files.example.edu\nnot a host")
        form.get_by_label("Thesis").select_option("mediated")
        form.get_by_role("button", name="Register").click()
        see(page.locator("#s-allowed_hosts-error")).to_have_text(
            "#2: must not hold spaces or control characters"
        )
        screenshot(page, f"campus-system-refused-{width}")
        form.get_by_label("Hosts its files may come from").fill("files.example.edu\n127.0.0.1:8443")
        see(form.get_by_label("Thesis")).to_have_value("mediated")
        form.get_by_role("button", name="Register").click()

        see(page.get_by_role("heading", name="Learning platform")).to_be_visible()
        see(page.get_by_text(f"system-{name}")).to_be_visible()
        see(page.get_by_text(f"campus-{name}").first).to_be_visible()
        page.get_by_label("Name", exact=True).fill("production")
        page.get_by_role("button", name="Create token").click()
        token = page.locator("#new-token").inner_text()
        assert token.startswith("lodge_")
        screenshot(page, f"campus-system-{width}")
        assert horizontal_overflow(page) == 0, sticking_out(page)

        # the token is the system's: scope deposit, its account
        system = bearer(lodge_system, token)
        assert system.get(f"{lodge_system.base_url}/api/v1/deposits", timeout=30).status_code == 200
        assert system.get(f"{lodge_system.base_url}{API}", timeout=30).status_code == 403

        page.goto(page.url.removesuffix("/tokens"))  # shown once: never again
        see(page.locator("#new-token")).to_have_count(0)
        see(page.get_by_text(token[:12] + "…")).to_be_visible()
        page.get_by_role("button", name="Make a new webhook secret").click()
        see(page.locator("#new-secret")).to_contain_text("whsec_")
        see(page.get_by_text("Made on")).to_be_visible()
        page.get_by_role("button", name="Deactivate this system").click()
        see(
            page.get_by_text("Learning platform is deactivated: its tokens are revoked.")
        ).to_be_visible()
        assert system.get(f"{lodge_system.base_url}/api/v1/deposits", timeout=30).status_code == 401
        page.goto("/staff/systems")
        see(page.get_by_role("row", name=name)).to_contain_text("deactivated on")


def test_the_profiles_named_are_checked_against_intakes(lodge_system):
    manager = lodge_system.client("manager")
    name = f"pure-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "label": "Research information system"}
    refused = expect(
        manager.post(API, json={**body, "profiles": [{"profile_id": "nope", "mode": "draft"}]}),
        422,
    )
    assert refused["error"]["fields"] == {"profiles": ["no profile 'nope'"]}
    made = expect(
        manager.post(
            API,
            json={
                **body,
                "profiles": [
                    {"profile_id": "thesis", "mode": "submit"},
                    {"profile_id": "open-works", "mode": "draft"},
                ],
            },
        ),
        201,
    )
    assert made["profiles"] == [
        {"profile_id": "open-works", "mode": "draft"},
        {"profile_id": "thesis", "mode": "submit"},
    ]
    changed = expect(
        manager.patch(f"{API}/{made['id']}", json={"profiles": []}),
        200,
    )
    assert changed["profiles"] == []


def test_the_staff_page_answers_hostile_forms_with_4xx(lodge_system):
    manager = signed_in(lodge_system, "manager")
    base = f"{lodge_system.base_url}/staff/systems"
    token = csrf_token(manager.get(base, timeout=30).text)
    for form in (
        {"name": "Bad Name", "label": "x"},
        {"name": "ok-name", "label": "bell\u0007"},
        {"name": "ok-name", "label": "x" * 301},
        {"name": "ok-name", "label": "x", "allowed_hosts": "https://x.example.edu/"},
        {"name": "ok-name", "label": "x", "broker_user": "guest\tadmin"},
        {"name": "ok-name", "label": "x", "mode-thesis": "approve"},
    ):
        answer = manager.post(base, data={"csrf_token": token, **form}, timeout=30)
        assert answer.status_code == 422, form
    assert manager.post(base, data={"name": "ok-name", "label": "x"}, timeout=30).status_code == 400
    assert manager.get(f"{base}/no-such-system", timeout=30).status_code == 404
    listed = expect(lodge_system.client("manager").get(API), 200)["items"]
    assert "ok-name" not in {system["name"] for system in listed}
