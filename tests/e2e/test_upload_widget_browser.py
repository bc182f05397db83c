"""The portal's upload widget in headless Chromium: a large file goes up in resumable chunks
with a progress bar, survives a dropped connection, and the pre-check speaks up."""

import hashlib
import os

from playwright.sync_api import expect as see

from tests.e2e.conftest import screenshot
from tests.e2e.test_portal_browser import sign_in

OPEN_WORK = {
    "title": "Tidal patterns of the Wadden Sea",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Ten years of tide gauges.",
    "date": "2026",
}
MiB = 1024 * 1024
CHUNK = 8 * MiB


def test_a_large_upload_survives_a_dropped_connection(page, lodge_system, tmp_path):
    big = tmp_path / "tide-gauges-2016-2026.pdf"
    with open(big, "wb") as handle:
        handle.write(b"%PDF-1.4\n1 0 obj<<>>endobj\n")
        for _ in range(64):
            handle.write(os.urandom(MiB))
    expected = hashlib.sha256(big.read_bytes()).hexdigest()
    mislabelled = tmp_path / "notes.pdf"
    mislabelled.write_bytes(b"These are plain-text notes, not a PDF at all.\n" * 20)

    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    sign_in(page, "student")
    page.goto(f"/deposits/{deposit['id']}/edit")

    # the connection drops while the third chunk is on its way
    dropped = []

    def drop_third_chunk(route):
        request = route.request
        if (
            request.method == "PATCH"
            and not dropped
            and request.headers.get("upload-offset") == str(2 * CHUNK)
        ):
            dropped.append(request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/uploads/*", drop_third_chunk)
    page.expected_console_errors = [r"net::ERR_CONNECTION_RESET"]
    page.locator("#file-input").set_input_files(str(big))

    row = page.locator("#file-list .file").first
    see(row.locator("progress")).to_be_visible()
    page.wait_for_function(
        "() => { const p = document.querySelector('#file-list progress'); "
        "return p && p.value >= 5; }",
        timeout=120_000,
    )
    see(row.locator(".meta")).to_contain_text("MB/s")
    screenshot(page, "upload-01-progress")
    see(page.locator("#file-list .file.retrying")).to_have_count(1, timeout=120_000)
    screenshot(page, "upload-02-resuming-after-drop")
    see(page.locator("#file-list .file.done")).to_have_count(1, timeout=300_000)
    page.unroute("**/uploads/*")
    assert dropped, "no chunk was dropped"
    screenshot(page, "upload-03-done")

    [file] = student.deposit(deposit["id"])["files"]
    assert file["sha256"] == expected
    assert file["size"] == big.stat().st_size

    # content that is not what its name says: the pre-check tells at once
    page.locator("#file-input").set_input_files(str(mislabelled))
    see(page.locator("#file-list .file.done")).to_have_count(2, timeout=60_000)
    see(page.locator("#file-list .file.done .problems")).to_contain_text("named .pdf")
    screenshot(page, "upload-04-precheck-problem")

    # a refusal from the API is shown next to the file, in the API's words
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    page.locator("#file-input").set_input_files(str(empty))
    see(page.locator("#file-list .file.failed")).to_contain_text(
        "The file is empty.", timeout=60_000
    )
    screenshot(page, "upload-05-refused")
