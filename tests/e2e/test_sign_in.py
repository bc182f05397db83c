"""Signing in through the institution's OpenID Connect provider (a real one, in its own
process), local sign-in limits, and API token scopes, against a running Lodge."""

import uuid
from urllib.parse import parse_qs, urlsplit

import requests
from playwright.sync_api import expect as see
from sqlalchemy import create_engine, select

from gateway.models import User
from tests.e2e.conftest import screenshot
from tests.support.system import csrf_token, expect

THESIS = {
    "title": "Dunes",
    "creators": [{"name": "Jo Doe"}],
    "abstract": "Sand.",
    "date": "2026",
    "degree": "Master",
}


def stored_user(lodge_system, **where):
    engine = create_engine(lodge_system.database_urls["gateway"])
    try:
        with engine.connect() as connection:
            return connection.execute(
                select(User.username, User.groups, User.roles, User.name).filter_by(**where)
            ).one()
    finally:
        engine.dispose()


def quiet_provider_styles(page):
    """The provider's pages load a stylesheet from the internet, which is out of reach here."""
    page.route(
        "https://cdn.jsdelivr.net/**",
        lambda route: route.fulfill(status=200, content_type="text/css", body=""),
    )


def sign_in_at_provider(page, sub):
    page.goto("/login")
    page.get_by_role("link", name="Sign in with Example University").click()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def test_a_patron_signs_in_through_the_institution_and_lands_in_the_portal(
    page, lodge_system, oidc_provider
):
    sub = f"s-{uuid.uuid4().hex[:8]}"
    oidc_provider.set_user(
        sub,
        {
            "preferred_username": "jdoe",
            "name": "Jo Doe",
            "email": "jo.doe@example.edu",
            "eduPersonAffiliation": ["student", "member"],
            "groups": ["geo-dept"],
        },
    )
    quiet_provider_styles(page)
    page.goto("/login")
    screenshot(page, "sign-in-00-login")
    sign_in_at_provider(page, sub)
    see(page.get_by_role("heading", name="My deposits")).to_be_visible()
    see(page.locator(".who")).to_have_text("Jo Doe")
    screenshot(page, "sign-in-01-institution-landed")

    # provisioned on first sign-in with the mapped groups and roles
    username, groups, roles, _ = stored_user(lodge_system, oidc_subject=sub)
    assert username.startswith("jdoe") and groups == ["geo-dept", "student"]
    assert roles == ["patron"]
    page.get_by_role("link", name="Account").click()
    see(page.locator(".groups")).to_have_text("geo-dept student")
    screenshot(page, "sign-in-02-account")
    # the groups open the profiles they allow: the thesis profile is for students
    page.get_by_role("link", name="New deposit").first.click()
    see(page.get_by_role("heading", name="Thesis", exact=True)).to_be_visible()

    # signing out, the affiliation changes at the institution; the next sign-in follows it
    page.get_by_role("button", name="Sign out").click()
    see(page.get_by_text("You are signed out.")).to_be_visible()
    oidc_provider.set_user(
        sub, {"preferred_username": "jdoe", "name": "Jo Doe", "eduPersonAffiliation": ["alum"]}
    )
    sign_in_at_provider(page, sub)
    see(page.get_by_role("heading", name="My deposits")).to_be_visible()
    assert stored_user(lodge_system, oidc_subject=sub)[1:3] == (["alum"], ["patron"])
    page.get_by_role("link", name="New deposit").first.click()
    see(page.get_by_role("heading", name="Thesis", exact=True)).to_have_count(0)


def test_the_sign_in_request_carries_state_nonce_and_pkce_and_a_forged_return_fails(
    lodge_system, oidc_provider
):
    browser = requests.Session()
    start = browser.get(
        f"{lodge_system.base_url}/login/institution", allow_redirects=False, timeout=30
    )
    assert start.status_code == 302
    location = urlsplit(start.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}" == oidc_provider.issuer
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20
    assert query["scope"] == ["openid profile email"]

    # a return with a state this browser never started is refused, and nobody is signed in
    sub = f"s-{uuid.uuid4().hex[:8]}"
    oidc_provider.set_user(sub, {"name": "Mallory"})
    attacker = requests.Session()
    begun = attacker.get(
        f"{lodge_system.base_url}/login/institution", timeout=30, allow_redirects=False
    ).headers["Location"]
    granted = attacker.post(begun, data={"sub": sub}, allow_redirects=False, timeout=30)
    callback = granted.headers["Location"]
    assert "code=" in callback
    forged = browser.get(callback, allow_redirects=False, timeout=30)
    assert forged.status_code == 400
    assert "did not work" in forged.text and "Traceback" not in forged.text
    # still not signed in: a page for signed-in users sends it to sign in
    assert (
        browser.get(
            f"{lodge_system.base_url}/account/tokens", allow_redirects=False, timeout=30
        ).status_code
        == 302
    )
    # the attacker's own browser completes it once; replaying the same return fails
    assert attacker.get(callback, allow_redirects=False, timeout=30).status_code == 302
    replay = requests.Session()
    replay.cookies.update(attacker.cookies)
    assert attacker.get(callback, allow_redirects=False, timeout=30).status_code == 400


def institution_session(lodge_system, sub) -> requests.Session:
    """A browser-like session signed in through the provider's form, without a browser."""
    browser = requests.Session()
    begun = browser.get(
        f"{lodge_system.base_url}/login/institution", timeout=30, allow_redirects=False
    ).headers["Location"]
    granted = browser.post(begun, data={"sub": sub}, allow_redirects=False, timeout=30)
    expect(browser.get(granted.headers["Location"], allow_redirects=False, timeout=30), 302)
    return browser


def test_mapped_claims_give_roles_and_a_local_name_is_never_taken_over(lodge_system, oidc_provider):
    sub = f"a-{uuid.uuid4().hex[:8]}"
    # the institution's "student" is not the local demo account "student"
    oidc_provider.set_user(
        sub,
        {
            "preferred_username": "student",
            "name": "Another Student",
            "groups": ["repository-approvers"],
        },
    )
    browser = institution_session(lodge_system, sub)
    username, _, roles, name = stored_user(lodge_system, oidc_subject=sub)
    assert username != "student" and username.startswith("student-")
    assert roles == ["patron", "approver"] and name == "Another Student"
    expect(browser.get(f"{lodge_system.base_url}/api/v1/reviews", timeout=30), 200)
    local = stored_user(lodge_system, username="student")
    assert local.name == "Sam Student" and local.groups == ["student"]


def test_local_sign_in_is_rate_limited_with_a_clear_message(lodge_system):
    browser = requests.Session()
    name = f"guess-{uuid.uuid4().hex[:6]}"
    for _ in range(5):
        page = browser.get(f"{lodge_system.base_url}/login", timeout=30)
        wrong = browser.post(
            f"{lodge_system.base_url}/login",
            timeout=30,
            data={"username": name, "password": "nope", "csrf_token": csrf_token(page.text)},
        )
        assert wrong.status_code == 401
    page = browser.get(f"{lodge_system.base_url}/login", timeout=30)
    blocked = browser.post(
        f"{lodge_system.base_url}/login",
        timeout=30,
        data={"username": name, "password": "nope", "csrf_token": csrf_token(page.text)},
    )
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in blocked.text


def test_a_token_without_the_review_scope_cannot_decide(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("thesis", THESIS)
    student.upload(deposit["id"], "dunes.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    student.submit(deposit["id"])
    lodge_system.wait_for_status(student, deposit["id"], "in_review")
    approver = lodge_system.client("approver")
    narrow = requests.Session()
    narrow.headers["Authorization"] = "Bearer " + _token(lodge_system, "approver", "deposit")
    refused = narrow.post(
        f"{lodge_system.base_url}/api/v1/reviews/{deposit['id']}/actions/approve",
        json={},
        timeout=30,
    )
    assert expect(refused, 403)["error"]["message"] == "This API token lacks the scope 'review'."
    assert expect(narrow.get(f"{lodge_system.base_url}/api/v1/reviews", timeout=30), 403)
    # the same token may deposit; a review-only token may decide but not deposit
    expect(narrow.get(f"{lodge_system.base_url}/api/v1/deposits", timeout=30), 200)
    reviewer = requests.Session()
    reviewer.headers["Authorization"] = "Bearer " + _token(lodge_system, "approver", "review")
    expect(reviewer.get(f"{lodge_system.base_url}/api/v1/deposits", timeout=30), 403)
    expect(
        reviewer.post(
            f"{lodge_system.base_url}/api/v1/reviews/{deposit['id']}/actions/approve",
            json={},
            timeout=30,
        ),
        200,
    )
    lodge_system.wait_for_status(approver, deposit["id"], ("approved", "archived"))


def _token(lodge_system, username, *scopes):
    import subprocess

    from tests.support.system import REPO_ROOT

    args = [lodge_system.python, "-m", "lodge", "token", username, "--name", "test"]
    for scope in scopes:
        args += ["--scope", scope]
    result = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=lodge_system.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()[-1]


def test_tokens_page_shows_a_new_token_once_and_its_last_use(page, lodge_system):
    page.goto("/login")
    page.get_by_label("Username").fill("faculty")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Account").click()
    page.get_by_label("Name", exact=True).fill("lab upload script")
    page.get_by_role("button", name="Create token").click()
    value = page.locator("#new-token").inner_text()
    assert value.startswith("lodge_")
    screenshot(page, "sign-in-03-new-token")
    expect(
        requests.get(
            f"{lodge_system.base_url}/api/v1/deposits",
            timeout=30,
            headers={"Authorization": f"Bearer {value}"},
        ),
        200,
    )
    page.goto("/account/tokens")
    see(page.locator("#new-token")).to_have_count(0)
    row = page.locator("tr", has_text="lab upload script")
    see(row).not_to_contain_text("never")
    row.get_by_role("button", name="Revoke").click()
    see(page.locator("tr", has_text="lab upload script")).to_have_count(0)
    expect(
        requests.get(
            f"{lodge_system.base_url}/api/v1/deposits",
            timeout=30,
            headers={"Authorization": f"Bearer {value}"},
        ),
        401,
    )
