"""Validation end to end with a real clamd: a deposit carrying EICAR is returned, and the
depositor reads why on the portal in plain words (English and German); when clamd goes
away, the scan check fails instead of passing.

This module runs a Lodge of its own whose validation talks to a clamd of its own, so the
test can stop that clamd without touching anyone else's."""

import re

import pytest
from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot, watched_page
from tests.support import corpus
from tests.support.clamd import ClamdProcess
from tests.support.system import LodgeSystem

METADATA = {
    "title": "Tide gauges of the Wadden Sea",
    "creators": [{"name": "Sam Student", "orcid": "0000-0002-1825-0097"}],
    "abstract": "Ten years of tide gauges.",
    "date": "2026-05",
}


@pytest.fixture(scope="module")
def own_clamd(tmp_path_factory):
    process = ClamdProcess(tmp_path_factory.mktemp("e2e-clamd")).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def scanning_lodge(own_clamd):
    system = LodgeSystem(
        "postgresql",
        label="e2e-validation",
        extra_env={"LODGE_CLAMD_SOCKET": own_clamd.socket, "LODGE_CLAMD_TIMEOUT": "30"},
    )
    system.start()
    yield system
    system.stop()


@pytest.fixture
def portal(browser, scanning_lodge):
    with watched_page(browser, scanning_lodge.base_url) as page:
        yield page


def deposit_with(system, files):
    student = system.client("student")
    deposit = student.create_deposit("open-works", METADATA)
    for name, data in files:
        student.upload(deposit["id"], name, data)
    student.submit(deposit["id"])
    return student, system.wait_for_status(student, deposit["id"], "returned", timeout=90)


def failing_codes(deposit):
    return {
        f["filename"]: sorted(c["code"] for c in f["checks"] if not c["passed"])
        for f in deposit["validation_report"]["files"]
    }


def test_eicar_fails_validation_and_the_depositor_reads_why(scanning_lodge, portal):
    _, returned = deposit_with(
        scanning_lodge,
        [
            ("field-notes.txt", corpus.EICAR_FILE),
            ("tide-data.zip", corpus.zipped([("gauges.csv", b"station,level\nnorth,1.2\n")])),
            ("report.pdf", corpus.pdf(4)),
        ],
    )
    assert failing_codes(returned) == {
        "field-notes.txt": ["virus_found"],
        "tide-data.zip": [],
        "report.pdf": [],
    }
    assert returned["history"][-1]["reason_code"] == "checks_failed"

    sign_in(portal)
    portal.goto(f"/deposits/{returned['id']}")
    report = portal.locator(".validation-report")
    see(report).to_contain_text("Some files did not pass the automatic checks.")
    infected = report.locator(".check-file.failed")
    see(infected).to_have_count(1)
    see(infected.locator("h3")).to_have_text("field-notes.txt")
    see(infected.locator(".problems")).to_contain_text(
        "A virus was found in this file (Eicar-Test-Signature"
    )
    see(infected.locator(".problems")).to_contain_text("upload a clean copy")
    # the passing files show what was measured: the archive's contents, the PDF's pages
    archive = report.locator(".check-file", has_text="tide-data.zip")
    archive.locator("details.archive summary").click()
    see(archive.locator("details.archive")).to_contain_text("gauges.csv")
    see(report.locator(".check-file", has_text="report.pdf").locator(".technical")).to_contain_text(
        "4"
    )
    screenshot(portal, "validation-01-virus-found")

    portal.get_by_role("button", name="Deutsch").click()
    see(portal.locator(".validation-report .check-file.failed .problems")).to_contain_text(
        "In dieser Datei wurde ein Virus gefunden"
    )
    screenshot(portal, "validation-02-virus-found-de")
    portal.get_by_role("button", name="English").click()  # the choice sticks to the account
    see(portal.locator(".validation-report h2")).to_have_text("Checks on your files")


def sign_in(portal, username="student"):
    portal.goto("/login")
    portal.get_by_label("Username").fill(username)
    portal.get_by_label("Password").fill("demo")
    portal.get_by_role("button", name="Sign in").click()


def test_the_pre_check_warns_at_upload(scanning_lodge, portal, tmp_path):
    student = scanning_lodge.client("student")
    deposit = student.create_deposit("open-works", METADATA)
    created = student.upload(deposit["id"], "thesis.pdf", corpus.windows_program())
    precheck = created["precheck"]
    assert precheck["passed"] is False
    assert [c["code"] for c in precheck["checks"] if not c["passed"]] == ["format_program_windows"]
    listed = student.upload(deposit["id"], "data.zip", corpus.zipped([("a.csv", b"1,2\n")]))
    assert listed["precheck"]["passed"] is True
    assert listed["precheck"]["archive"]["entries"][0]["name"] == "a.csv"

    # in the portal, the widget shows the problem under the file as soon as it is uploaded
    program = tmp_path / "thesis.pdf"
    program.write_bytes(corpus.windows_program())
    sign_in(portal)
    portal.goto(f"/deposits/{deposit['id']}/edit")
    portal.locator("#file-input").set_input_files(str(program))
    see(portal.locator("#file-list .file.warned .problems")).to_contain_text(
        "This file is a Windows program, not a PDF file. Upload the PDF file itself."
    )
    screenshot(portal, "validation-03-pre-check-at-upload")
    # validation keeps the pre-checks, so the editor shows them again after a reload
    portal.reload()
    see(portal.locator("#file-list .file.warned")).to_have_count(2)
    see(portal.locator("#file-list .file:not(.warned)")).to_have_text(re.compile("data.zip"))


def test_an_unreachable_clamd_fails_the_scan_check(scanning_lodge, own_clamd, portal):
    own_clamd.stop()
    _, returned = deposit_with(scanning_lodge, [("report.pdf", corpus.pdf(1))])
    assert failing_codes(returned) == {"report.pdf": ["virus_scan_failed"]}
    sign_in(portal)
    portal.goto(f"/deposits/{returned['id']}")
    see(portal.locator(".validation-report .problems")).to_contain_text(
        "The virus scan could not run"
    )
    screenshot(portal, "validation-04-scan-could-not-run")
