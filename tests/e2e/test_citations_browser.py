"""The landing page's citation in headless Chromium: the style chooser is a GET form that
works without script, the citation follows the reader's language, the export links
download, and the page stays accessible at phone width."""

from __future__ import annotations

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_publication import publish

PHONE = 390


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
        citation = page.locator("#citation")
        see(citation).to_contain_text("Student, S., & Faculty, F. (2026). Salt marsh accretion")
        see(citation.locator("i")).to_have_text("Salt marsh accretion {rates} & sea level")
        page.get_by_label("Citation style").select_option(label="IEEE")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**style=ieee**")
        see(citation).to_contain_text("S. Student and F. Faculty, “Salt marsh accretion")
        see(page.get_by_label("Citation style")).to_have_value("ieee")
        screenshot(page, "20-citation-style-phone")

        with page.expect_download() as download:
            page.get_by_role("link", name="BibTeX").click()
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
        see(page.get_by_role("heading", name="Zitieren")).to_be_visible()
        page.get_by_label("Zitierstil").select_option("chicago")
        page.get_by_role("button", name="Anzeigen").click()
        page.wait_for_url("**style=chicago**")
        # Chicago in German: „…" quotes and "und" between authors
        see(page.locator("#citation")).to_contain_text("Student, S., und F. Faculty. 2026.")
        see(page.locator("#citation")).to_contain_text("„Moorböden“")
        see(page.get_by_role("button", name="Zitat kopieren")).to_be_hidden()  # needs script
    finally:
        context.close()
