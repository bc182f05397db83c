"""Signing in through a SAML identity provider of the test federation in Chromium: the
choice of institution, the IdP's signed answer posted back to Lodge, and the account it
makes, with groups and roles from the attributes."""

import uuid

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_sign_in import stored_user


def test_a_person_chooses_their_institution_and_signs_in_with_saml(page, lodge_system, saml_idps):
    (_, two), _ = saml_idps
    subject = f"saml-{uuid.uuid4().hex[:8]}"
    two.person = {
        "subject": subject,
        "attributes": {
            "eduPersonPrincipalName": [f"{subject}@two.example"],
            "displayName": ["Sam Sample"],
            "mail": [f"{subject}@two.example"],
            "eduPersonAffiliation": ["staff", "member"],
            "isMemberOf": ["library-staff"],
        },
    }
    page.goto("/login")
    page.get_by_role("link", name="Sign in with the Test Federation").click()
    see(page.get_by_role("heading", name="Choose your institution")).to_be_visible()
    screenshot(page, "saml-00-discovery")
    page.get_by_role("link", name="College Two").click()
    # the identity provider's page: its signed answer goes back by HTTP-POST
    see(page.get_by_role("heading", name="College Two")).to_be_visible()
    page.get_by_role("button", name="Continue to the service").click()
    see(page.get_by_role("heading", name="My deposits")).to_be_visible()
    see(page.locator(".who")).to_have_text("Sam Sample")

    username, groups, roles, _ = stored_user(lodge_system, oidc_subject=subject)
    assert username == f"{subject}@two.example"
    assert groups == ["staff", "library-staff"] and roles == ["patron", "approver"]
    assert stored_user(lodge_system, oidc_subject=subject, oidc_issuer=two.entity_id)
    page.get_by_role("link", name="Account").click()
    see(page.locator(".groups")).to_have_text("staff library-staff")
    screenshot(page, "saml-01-account")


def test_the_choice_of_institution_fits_a_phone(browser, lodge_system, saml_idps):
    with watched_page(browser, lodge_system.base_url, width=360, height=740) as phone:
        phone.goto("/saml/login")
        for name in ("University One", "College Two"):
            link = phone.get_by_role("link", name=name)
            see(link).to_be_visible()
            assert link.bounding_box()["width"] <= 360
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(phone, "saml-02-discovery-phone")
