"""The staff pages for deposit profiles, as a manager's browser uses them."""

from __future__ import annotations

import copy
import re
import uuid
from html.parser import HTMLParser

import pytest
import requests
from playwright.sync_api import expect as see

from services.intake.seed import COMMON_FIELDS
from tests.e2e.conftest import screenshot
from tests.support.system import csrf_token, expect, signed_in

API = "/api/v1"


# --- a browser, as far as these pages need one -------------------------------------------


class EditorForm(HTMLParser):
    """The values the profile editor's form submits, as a browser would send them
    (checked boxes only, selected options, nothing from the row <template>)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.pairs: list[list[str]] = []
        self.action = None
        self._in_form = self._in_template = False
        self._textarea: list | None = None
        self._select: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and "profile-form" in (attrs.get("class") or ""):
            self._in_form, self.action = True, attrs.get("action")
        elif tag == "template":
            self._in_template = True
        if not self._in_form or self._in_template:
            return
        if tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.pairs.append([attrs["name"], attrs.get("value", "on")])
            else:
                self.pairs.append([attrs["name"], attrs.get("value") or ""])
        elif tag == "textarea":
            self._textarea = [attrs["name"], ""]
            self.pairs.append(self._textarea)
        elif tag == "select":
            self._select = {"name": attrs["name"], "first": None, "chosen": None}
        elif tag == "option" and self._select is not None:
            if self._select["first"] is None:
                self._select["first"] = attrs.get("value", "")
            if "selected" in attrs:
                self._select["chosen"] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "template":
            self._in_template = False
        elif tag == "textarea" and self._textarea is not None:
            # a browser drops one newline straight after <textarea>
            self._textarea[1] = self._textarea[1].removeprefix("\n")
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = self._select["chosen"]
            self.pairs.append(
                [
                    self._select["name"],
                    chosen if chosen is not None else self._select["first"] or "",
                ]
            )
            self._select = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.pairs if key == name), None)

    def set(self, name: str, value: str | None) -> None:
        """Change an input (None unticks a checkbox)."""
        self.pairs = [pair for pair in self.pairs if pair[0] != name]
        if value is not None:
            self.pairs.append([name, value])

    def row_count(self) -> int:
        return len({m.group(1) for key, _ in self.pairs if (m := re.match(r"fields-(\d+)-", key))})


def open_editor(session, lodge_system, path: str) -> EditorForm:
    page = session.get(f"{lodge_system.base_url}{path}", timeout=30)
    assert page.status_code == 200, page.text[:2000]
    return EditorForm(page.text)


def submit(session, lodge_system, form: EditorForm) -> requests.Response:
    return session.post(
        f"{lodge_system.base_url}{form.action}", data=form.pairs, timeout=30, allow_redirects=False
    )


def unique_id(label: str = "page") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def api_body(profile_id: str, **changes) -> dict:
    body = {
        "id": profile_id,
        "name": f"Profile {profile_id}",
        "fields": copy.deepcopy(COMMON_FIELDS),
        "file_rules": {"min_files": 0, "max_files": 4},
        "approval": {"mode": "manual", "approver_groups": ["approvers"]},
        "target_collection": "theses",
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def manager(lodge_system):
    return signed_in(lodge_system, "manager")


@pytest.fixture(scope="module")
def manager_api(lodge_system):
    return lodge_system.client("manager")


# --- the list ---------------------------------------------------------------------------


def test_the_list_shows_every_profile_with_inactive_ones_marked(lodge_system, manager, manager_api):
    hidden = unique_id("hidden")
    expect(manager_api.post(f"{API}/profiles", json=api_body(hidden, active=False)), 201)
    page = manager.get(f"{lodge_system.base_url}/staff/profiles", timeout=30)
    assert page.status_code == 200
    html = page.text
    assert "Deposit profiles" in html and 'href="/staff/profiles/new"' in html
    for profile_id in ("open-works", "thesis", hidden):
        assert f'href="/staff/profiles/{profile_id}"' in html
    row = re.search(
        rf"<tr class=\"inactive\">(?:(?!</tr>).)*{hidden}(?:(?!</tr>).)*</tr>", html, re.S
    )
    assert row and "inactive" in row.group(0) and "Theses and dissertations" in row.group(0)
    thesis = re.search(
        r"<tr>(?:(?!</tr>).)*/staff/profiles/thesis\"(?:(?!</tr>).)*</tr>", html, re.S
    ).group(0)
    assert "Manual" in thesis and "student" in thesis and "inactive" not in thesis
    assert "Everyone" in html  # open-works has no group limit


# --- create, edit, history --------------------------------------------------------------


def test_a_manager_creates_and_then_edits_a_profile(lodge_system, manager, manager_api):
    profile_id = unique_id("made")
    form = open_editor(manager, lodge_system, "/staff/profiles/new")
    assert form.action == "/staff/profiles/new"
    assert form.get("fields-0-key") == "title" and form.get("fields-0-dc") == "title"
    assert form.row_count() == 2  # the title row and a blank one
    form.set("id", profile_id)
    form.set("name", f"Made on the page {profile_id}")
    form.set("description", "Reports made by the research office.")
    form.set("allowed_groups", "faculty, staff")
    form.set("fields-1-key", "")
    form.set("fields-1-label", "Report series")
    form.set("fields-1-type", "choice")
    form.set("fields-1-vocabulary", "Annual\nQuarterly\nSpecial, one-off\n")
    form.set("fields-1-required", "on")
    form.set("max_files", "4")
    form.set("max_file_size_mb", "25")
    form.set("allowed_extensions", "pdf, docx")
    form.set("approval_mode", "automatic")
    form.set("target_collection", "open-works")
    created = submit(manager, lodge_system, form)
    assert created.status_code == 302, created.text[:3000]
    assert created.headers["Location"].endswith(f"/staff/profiles/{profile_id}")

    page = manager.get(lodge_system.base_url + created.headers["Location"], timeout=30)
    assert "Saved as version 1." in page.text
    saved = expect(manager_api.get(f"{API}/profiles/{profile_id}"), 200)
    assert saved["version"] == 1 and saved["allowed_groups"] == ["faculty", "staff"]
    assert saved["approval"] == {"mode": "automatic", "approver_groups": []}
    assert saved["file_rules"]["max_file_size"] == 25 * 1024 * 1024
    assert saved["file_rules"]["allowed_extensions"] == ["pdf", "docx"]
    assert [f["key"] for f in saved["fields"]] == ["title", "report_series"]
    assert saved["fields"][1]["vocabulary"] == ["Annual", "Quarterly", "Special, one-off"]

    # edit: the page's own form, changed and sent back, is version 2
    form = EditorForm(page.text)
    assert form.action == f"/staff/profiles/{profile_id}" and form.get("id") is None
    assert form.get("max_file_size_mb") == "25" and form.get("fields-1-type") == "choice"
    form.set("name", f"Renamed on the page {profile_id}")
    form.set("max_files", "6")
    form.set("active", None)
    form.set("fields-2-key", "pages")  # the blank row becomes a field
    form.set("fields-2-label", "Number of pages")
    form.set("fields-2-type", "text")
    edited = submit(manager, lodge_system, form)
    assert edited.status_code == 302, edited.text[:3000]
    page = manager.get(lodge_system.base_url + edited.headers["Location"], timeout=30)
    assert "Saved as version 2." in page.text
    history = re.search(r'<section class="card" id="history".*?</section>', page.text, re.S)
    assert history, "the page shows no version history"
    versions = re.findall(r'<th scope="row" class="numeric">(\d+)</th>', history.group(0))
    assert versions == ["2", "1"]
    assert "Morgan Manager" in history.group(0)

    current = expect(manager_api.get(f"{API}/profiles/{profile_id}"), 200)
    assert current["version"] == 2 and current["name"] == f"Renamed on the page {profile_id}"
    assert current["active"] is False and current["file_rules"]["max_files"] == 6
    assert [f["key"] for f in current["fields"]] == ["title", "report_series", "pages"]
    first = expect(manager_api.get(f"{API}/profiles/{profile_id}", params={"version": 1}), 200)
    assert first["version"] == 1 and first["name"] == f"Made on the page {profile_id}"
    assert first["active"] is True and first["file_rules"]["max_files"] == 4
    assert [
        v["version"]
        for v in expect(manager_api.get(f"{API}/profiles/{profile_id}/versions"), 200)["items"]
    ] == [2, 1]

    # an older version can be opened in the editor; saving it makes version 3
    older = open_editor(manager, lodge_system, f"/staff/profiles/{profile_id}?version=1")
    assert older.get("name") == f"Made on the page {profile_id}"
    restored = submit(manager, lodge_system, older)
    assert restored.status_code == 302
    assert expect(manager_api.get(f"{API}/profiles/{profile_id}"), 200)["version"] == 3
    assert (
        manager.get(
            f"{lodge_system.base_url}/staff/profiles/{profile_id}?version=99", timeout=30
        ).status_code
        == 404
    )


def versions_of(manager_api, profile_id: str) -> list[int]:
    return [
        v["version"]
        for v in expect(manager_api.get(f"{API}/profiles/{profile_id}/versions"), 200)["items"]
    ]


def test_invalid_input_is_shown_on_the_page_and_nothing_is_saved(
    lodge_system, manager, manager_api
):
    profile_id = unique_id("checked")
    expect(manager_api.post(f"{API}/profiles", json=api_body(profile_id)), 201)
    path = f"/staff/profiles/{profile_id}"

    # duplicate keys and a number that is not one
    form = open_editor(manager, lodge_system, path)
    form.set("name", "A name that is kept")
    form.set("fields-1-key", "title")
    form.set("max_files", "abc")
    response = submit(manager, lodge_system, form)
    assert response.status_code == 422
    html = response.text
    assert "There is a problem" in html and "Nothing was saved." in html
    assert 'href="#fields-1-key"' in html and 'href="#max_files"' in html
    assert 'id="fields-1-key-error"' in html and 'id="max_files-error"' in html
    assert "each key must be unique" in html and "Enter a whole number" in html
    assert 'aria-describedby="max_files-error" aria-invalid="true"' in html
    kept = EditorForm(html)
    assert kept.get("name") == "A name that is kept" and kept.get("max_files") == "abc"
    assert kept.get("fields-1-key") == "title"

    # no field mapped to dc:title
    form = open_editor(manager, lodge_system, path)
    form.set("fields-0-dc", "")
    response = submit(manager, lodge_system, form)
    assert response.status_code == 422
    assert 'href="#fields-section"' in response.text
    assert "Map one field to the Dublin Core element title" in response.text

    # a rule only intake knows: another profile has the name
    form = open_editor(manager, lodge_system, path)
    form.set("name", "Thesis")
    response = submit(manager, lodge_system, form)
    assert response.status_code == 422
    assert 'href="#name"' in response.text and "already used" in response.text

    assert versions_of(manager_api, profile_id) == [1]
    assert (
        expect(manager_api.get(f"{API}/profiles/{profile_id}"), 200)["name"]
        == f"Profile {profile_id}"
    )

    # a new profile needs an id nobody has
    form = open_editor(manager, lodge_system, "/staff/profiles/new")
    form.set("id", profile_id)
    form.set("name", f"Second try {profile_id}")
    response = submit(manager, lodge_system, form)
    assert response.status_code == 409
    assert 'href="#id"' in response.text and "already used" in response.text
    form.set("id", "")
    response = submit(manager, lodge_system, form)
    assert response.status_code == 422 and "Enter an ID for the profile." in response.text
    assert versions_of(manager_api, profile_id) == [1]


def test_patrons_and_strangers_are_kept_out(lodge_system):
    student = signed_in(lodge_system, "student")
    for path in ("/staff/profiles", "/staff/profiles/new", "/staff/profiles/thesis"):
        assert student.get(f"{lodge_system.base_url}{path}", timeout=30).status_code == 403
    token = csrf_token(student.get(f"{lodge_system.base_url}/", timeout=30).text)
    posted = student.post(
        f"{lodge_system.base_url}/staff/profiles/new",
        timeout=30,
        data={"csrf_token": token, "id": unique_id(), "name": "Sneaky"},
    )
    assert posted.status_code == 403
    anonymous = requests.get(
        f"{lodge_system.base_url}/staff/profiles", timeout=30, allow_redirects=False
    )
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert (
        signed_in(lodge_system, "manager")
        .get(f"{lodge_system.base_url}/staff/profiles/{unique_id('nothing')}", timeout=30)
        .status_code
        == 404
    )


# --- in a real browser --------------------------------------------------------------------


def test_a_manager_adds_a_field_with_the_button_and_saves(lodge_system, manager_api, page):
    profile_id = unique_id("browser")
    expect(
        manager_api.post(
            f"{API}/profiles",
            json=api_body(
                profile_id,
                name=f"Browser profile {profile_id}",
                description="Conference posters and slides.",
            ),
        ),
        201,
    )

    sign_in_with(page, lodge_system, "manager")
    page.goto(f"/staff/profiles/{profile_id}")

    rows = page.locator("#field-rows > [data-row]")
    count = len(COMMON_FIELDS)
    assert rows.count() == count  # the script drops the spare blank row
    page.get_by_role("button", name="Add field").click()
    assert rows.count() == count + 1
    new_row = rows.nth(count)
    key = new_row.get_by_label("Key")
    assert key.evaluate("element => element === document.activeElement")
    assert key.get_attribute("name") == f"fields-{count}-key"
    key.fill("event_name")
    new_row.get_by_label("Label", exact=True).fill("Event")
    new_row.get_by_label("Type").select_option("choice")
    vocabulary = new_row.get_by_label("Values to choose from")
    assert vocabulary.is_visible()
    vocabulary.fill("Open Repositories\niPRES")
    new_row.get_by_label("Required").check()
    new_row.get_by_role("button", name="Move up").click()  # before "language"
    assert rows.nth(count - 1).get_by_label("Key").input_value() == "event_name"
    assert (
        rows.nth(count - 1).get_by_label("Key").get_attribute("name") == f"fields-{count - 1}-key"
    )

    page.get_by_role("button", name="Save as a new version").click()
    # a locator, not wait_for_url: Playwright's navigation waits hang under eventlet
    flash = page.locator(".flash")
    flash.wait_for()
    assert "Saved as version 2." in flash.inner_text()
    assert page.url.endswith(f"/staff/profiles/{profile_id}")
    assert page.locator("#history tbody tr").count() == 2
    screenshot(page, "staff-profile-editor")

    saved = expect(manager_api.get(f"{API}/profiles/{profile_id}"), 200)
    assert saved["version"] == 2
    keys = [f["key"] for f in saved["fields"]]
    assert keys == [f["key"] for f in COMMON_FIELDS[:-1]] + ["event_name", "language"]
    event = saved["fields"][count - 1]
    assert event["type"] == "choice" and event["required"] is True
    assert event["vocabulary"] == ["Open Repositories", "iPRES"]

    # the page shows the saved order
    assert rows.nth(count - 1).get_by_label("Key").input_value() == "event_name"


def sign_in_with(page, lodge_system, username: str) -> None:
    """Sign in through /login with requests, and hand the session cookie to the browser."""
    session = signed_in(lodge_system, username)
    page.context.add_cookies(
        [
            {"name": cookie.name, "value": cookie.value, "url": lodge_system.base_url}
            for cookie in session.cookies
        ]
    )


def test_mistakes_are_summed_up_at_the_top_and_lead_to_their_inputs(
    lodge_system, manager_api, page
):
    profile_id = unique_id("mistakes")
    expect(manager_api.post(f"{API}/profiles", json=api_body(profile_id)), 201)
    sign_in_with(page, lodge_system, "manager")
    page.goto(f"/staff/profiles/{profile_id}")
    page.fill("#max_file_size_mb", "lots")
    page.locator("#fields-0-dc").select_option("")
    page.get_by_role("button", name="Save as a new version").click()
    summary = page.locator("#error-summary")
    # the page's script moves focus to the summary once it has run, after the summary shows
    see(summary).to_be_focused()
    assert "Map one field to the Dublin Core element title" in summary.inner_text()
    summary.get_by_role("link", name=re.compile("Largest file")).click()
    see(page.locator("#max_file_size_mb")).to_be_focused()
    assert page.locator("#max_file_size_mb").input_value() == "lots"
    assert page.locator("#max_file_size_mb").get_attribute("aria-invalid") == "true"
    screenshot(page, "staff-profile-editor-errors")
    assert versions_of(manager_api, profile_id) == [1]


def test_a_manager_names_who_may_deposit_for_a_patron_on_the_editor(
    lodge_system, manager, manager_api
):
    profile_id = unique_id("mediated")
    expect(manager_api.post(f"{API}/profiles", json=api_body(profile_id, active=False)), 201)
    staff = lodge_system.client("staff")

    def made_for_a_patron():
        return staff.post(
            f"{API}/deposits",
            json={"profile_id": profile_id, "metadata": {}, "on_behalf_of": "student"},
        )

    expect(made_for_a_patron(), 403)  # inactive and naming nobody
    path = f"/staff/profiles/{profile_id}"
    form = open_editor(manager, lodge_system, path)
    assert form.get("mediator_roles") == "" and form.get("mediator_groups") == ""
    form.set("mediator_roles", "patron")
    refused = submit(manager, lodge_system, form)
    assert refused.status_code == 422 and 'href="#mediator_roles"' in refused.text
    assert "Name staff roles only" in refused.text
    form = open_editor(manager, lodge_system, path)
    form.set("mediator_groups", "library")
    expect(submit(manager, lodge_system, form), 302)
    assert expect(manager_api.get(f"{API}/profiles/{profile_id}"), 200)["mediators"] == {
        "roles": [],
        "groups": ["library"],
    }
    assert open_editor(manager, lodge_system, path).get("mediator_groups") == "library"
    expect(made_for_a_patron(), 201)
