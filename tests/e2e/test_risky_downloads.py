"""Deposited files never run as pages of Lodge's origin."""

import pytest

from tests.support.system import expect

OPEN_WORK = {
    "title": "Risky files",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Files a browser would run.",
    "date": "2026",
}
RISKY = {
    "page.html": (
        b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    ),
    "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "data.xml": b'<?xml version="1.0"?><root><a>1</a></root>',
    # HTML behind a harmless name: the sniffed type decides, not the name
    "notes.txt": b"<html><body><script>alert(document.cookie)</script></body></html>",
}


@pytest.fixture(scope="module")
def risky_item(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    for name, data in RISKY.items():
        student.upload(deposit["id"], name, data)
    student.upload(deposit["id"], "paper.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    student.submit(deposit["id"])
    archived = lodge_system.wait_for_status(student, deposit["id"], "archived", timeout=60)
    item = expect(student.get(f"/api/v1/items/{archived['item_id']}"), 200)
    return item, {f["filename"]: f["id"] for f in item["representations"][0]["files"]}


@pytest.mark.parametrize("name", sorted(RISKY))
def test_risky_types_download_as_attachments_in_a_sandbox(lodge_system, risky_item, name):
    item, files = risky_item
    response = lodge_system.client().get(f"/api/v1/items/{item['id']}/files/{files[name]}")
    assert response.status_code == 200 and response.content == RISKY[name]
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_pdf_may_show_inline_but_still_sandboxed(lodge_system, risky_item):
    item, files = risky_item
    response = lodge_system.client().get(f"/api/v1/items/{item['id']}/files/{files['paper.pdf']}")
    assert response.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in response.headers["Content-Security-Policy"]
