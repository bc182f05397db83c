"""Every page a visitor, a patron, an approver, a manager and an admin can reach, in Chromium
at desktop and at phone width (390 px): axe-core finds nothing serious or critical, and no page
scrolls sideways. Phone-width screenshots are kept (test-artifacts/screenshots/a11y-*)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_lifecycles import API, unique_title
from tests.e2e.test_publication import publish
from tests.e2e.test_review_browser import thesis_in_review
from tests.e2e.test_staff_profiles import sign_in_with
from tests.support.accessibility import horizontal_overflow, sticking_out
from tests.support.system import expect

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="module")
def world(lodge_system) -> dict:
    """An item with an ORCID iD, a withdrawn item, a draft and a thesis in review."""
    student, approver = lodge_system.client("student"), lodge_system.client("approver")
    item = publish(
        lodge_system,
        {
            "title": unique_title("accessible item"),
            "creators": [
                {"name": "Sam Student", "orcid": "0000-0002-1825-0097"},
                {"name": "Fran Faculty"},
            ],
        },
    )
    gone = publish(lodge_system, {"title": unique_title("withdrawn item")})
    expect(
        lodge_system.client("manager").post(
            f"{API}/items/{gone['id']}/actions/withdraw", json={"reason": "Duplicate."}
        ),
        200,
    )
    draft = student.create_deposit("thesis", {"title": unique_title("accessible draft")})
    review = thesis_in_review(lodge_system, student, approver, "accessible review")
    return {"item": item["id"], "gone": gone["id"], "draft": draft["id"], "review": review["id"]}


# (who, path, the status the page answers with)
PAGES = {
    None: [
        ("/", 200),
        ("/login", 200),
        ("/collections", 200),
        ("/collections/open-works", 200),
        ("/search", 200),
        ("/search?q=accessible", 200),
        ("/items/{item}", 200),
        ("/items/{gone}", 410),
        ("/id/ark:/99999/lodge-0000000000000000", 404),
        ("/no-such-page", 404),
    ],
    "student": [
        ("/", 200),
        ("/deposits/new", 200),
        ("/deposits/{draft}", 200),
        ("/deposits/{draft}/edit", 200),
        ("/deposits/{review}", 200),
        ("/account/tokens", 200),
        ("/staff/queue", 403),
    ],
    "approver": [
        ("/staff/queue", 200),
        ("/staff/queue?tab=unassigned", 200),
        ("/staff/reviews/{review}", 200),
        ("/staff/dashboard", 200),
        ("/staff/deposits", 200),
        ("/staff/letters/preferences", 200),
        ("/staff/fixity", 200),
    ],
    "manager": [
        ("/staff/profiles", 200),
        ("/staff/profiles/thesis", 200),
        ("/staff/profiles/new", 200),
        ("/staff/reasons", 200),
        ("/staff/letters", 200),
        ("/staff/letters/deposit_returned/en", 200),
        ("/staff/collections", 200),
        ("/staff/collections/open-works", 200),
        ("/items/{item}", 200),
        ("/staff/items/{item}/correct", 200),
        ("/staff/dashboard", 200),  # with the most viewed and downloaded items
        ("/staff/queue?tab=all", 200),
    ],
    "admin": [
        ("/staff/dead-letters", 200),
        ("/staff/dead-letters?service=letters&state=dropped&age=1d&reason=none", 200),
    ],
}


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize(
    "who",
    [None, "student", "approver", "manager", "admin"],
    ids=["visitor", "patron", "approver", "manager", "admin"],
)
def test_every_page_passes_axe_and_fits_the_window(lodge_system, browser, world, who, width):
    problems = []
    with watched_page(browser, lodge_system.base_url, WIDTHS[width]) as page:
        if who:
            sign_in_with(page, lodge_system, who)
        for path, status in PAGES[who]:
            path = path.format(**world)
            response = page.goto(path)  # watched_page runs axe-core after every goto
            assert response.status == status, f"{path} answered {response.status}"
            if horizontal_overflow(page) > 0:
                problems.append(
                    f"{path} scrolls sideways by {horizontal_overflow(page)} px "
                    f"at {WIDTHS[width]} px: {', '.join(sticking_out(page))}"
                )
            if width == "phone":
                name = f"a11y-{who or 'visitor'}{path}".replace("/", "-").replace("?", "-")
                screenshot(page, name.rstrip("-"), checked=True)
    assert problems == [], "\n".join(problems)


def test_visitors_are_offered_browse_search_and_sign_in_on_the_home_page(lodge_system, world):
    response = lodge_system.client().get("/", allow_redirects=False)
    assert response.status_code == 200  # not sent to sign in
    html = response.text
    assert 'role="search"' in html and 'action="/search"' in html
    assert 'href="/collections/open-works"' in html and 'href="/collections"' in html
    assert 'href="/login?next=/"' in html
