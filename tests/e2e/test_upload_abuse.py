"""Abuse of the upload endpoints (gateway and intake side): each case is refused or flagged
with a clear JSON message, nothing lands outside the storage root, and no partial file is
left visible. Content-based cases (polyglot, zip bomb, EICAR) belong to validation; one
compression bomb goes the whole way here."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
from urllib.parse import urlsplit

from tests.support import corpus
from tests.support.system import expect

OPEN_WORK = {
    "title": "Tidal patterns",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Tides.",
    "date": "2026",
}
THESIS = {**OPEN_WORK, "degree": "Master"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def storage_files(lodge_system) -> list[str]:
    """Every file under the storage root, hidden partial files included."""
    root = lodge_system.data_dir / "storage"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def files_url(deposit_id):
    return f"/api/v1/deposits/{deposit_id}/files"


def assert_nothing_new(lodge_system, before, deposit_id, student):
    assert storage_files(lodge_system) == before
    assert student.deposit(deposit_id)["files"] == []
    outside = list(lodge_system.data_dir.parent.rglob("*passwd*"))
    assert outside == []


def test_a_file_name_too_long_for_a_url_is_a_json_answer(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    response = student.post(
        files_url(deposit["id"]),
        params={"filename": "a" * 5000 + ".pdf"},
        data=PDF,
        headers={"Content-Type": "application/octet-stream"},
    )
    created = expect(response, 201)
    assert created["filename"] == "a" * 251 + ".pdf"
    assert response.headers["Content-Type"] == "application/json"


def test_a_name_of_nothing_but_control_characters_is_refused(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    before = storage_files(lodge_system)
    response = student.post(
        files_url(deposit["id"]), params={"filename": "\x00\x01../\x1f"}, data=PDF
    )
    assert expect(response, 422)["error"]["fields"] == {"filename": ["has no usable characters"]}
    assert_nothing_new(lodge_system, before, deposit["id"], student)


def test_the_limit_plus_one_byte_is_refused_and_leaves_nothing(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("thesis", THESIS)
    limit = 500 * 1024 * 1024
    before = storage_files(lodge_system)
    # refused from the declared length, before a byte of the body is sent
    connection = http.client.HTTPConnection(urlsplit(lodge_system.base_url).netloc, timeout=60)
    connection.putrequest("POST", f"{files_url(deposit['id'])}?filename=big.pdf")
    connection.putheader("Authorization", student.headers["Authorization"])
    connection.putheader("Content-Length", str(limit + 1))
    connection.endheaders()
    declared = connection.getresponse()
    assert declared.status == 413
    assert json.loads(declared.read())["error"]["fields"] == {
        "file": [f"larger than {limit} bytes"]
    }
    connection.close()

    def body():  # no Content-Length: refused as the bytes arrive
        yield b"%PDF-1.4\n"
        for _ in range(500):
            yield b"\0" * (1024 * 1024)
        yield b"x" * 10

    streamed = student.post(files_url(deposit["id"]), params={"filename": "big.pdf"}, data=body())
    assert expect(streamed, 413)["error"]["code"] == "too_large"
    assert_nothing_new(lodge_system, before, deposit["id"], student)


def test_a_double_extension_is_refused_where_the_profile_names_its_formats(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("thesis", THESIS)
    before = storage_files(lodge_system)
    response = student.post(
        files_url(deposit["id"]), params={"filename": "thesis.pdf.exe"}, data=b"MZ" + b"\0" * 200
    )
    error = expect(response, 422)["error"]
    assert error["message"].startswith("Files of type .exe are not accepted here")
    assert_nothing_new(lodge_system, before, deposit["id"], student)


def test_a_double_extension_is_flagged_by_the_pre_check_where_any_format_goes(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    created = student.upload(deposit["id"], "thesis.pdf.exe", b"MZ\x90\0" + b"\0" * 200)
    assert created["filename"] == "thesis.pdf.exe"
    assert created["precheck"] is not None and created["precheck"]["passed"] is False


def test_too_many_files_is_refused(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("thesis", THESIS)
    for number in range(5):
        student.upload(deposit["id"], f"part{number}.pdf", PDF)
    before = storage_files(lodge_system)
    response = student.post(files_url(deposit["id"]), params={"filename": "six.pdf"}, data=PDF)
    assert expect(response, 409)["error"]["fields"] == {"file": ["too many files"]}
    assert storage_files(lodge_system) == before


def test_an_empty_file_is_flagged(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    created = student.upload(deposit["id"], "empty.pdf", b"")
    assert created["size"] == 0
    assert created["precheck"]["passed"] is False
    assert any(
        check.get("code") == "size_empty" and not check["passed"]
        for check in created["precheck"]["checks"]
    )


def test_a_multipart_body_with_10000_parts_is_refused(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    before = storage_files(lodge_system)
    boundary = "lodge-abuse"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{n}"\r\n\r\nx\r\n'
        for n in range(10_000)
    )
    body = (
        (
            parts + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="a.pdf"\r\n\r\n'
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = student.post(
        files_url(deposit["id"]),
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert expect(response, 422)["error"]["fields"] == {"file": ["too many parts"]}
    assert_nothing_new(lodge_system, before, deposit["id"], student)


def test_a_large_multipart_upload_streams_through(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    data = PDF + bytes(range(256)) * 40_000
    created = expect(
        student.post(
            files_url(deposit["id"]), files={"file": ("big.pdf", data, "application/pdf")}
        ),
        201,
    )
    assert created["sha256"] == hashlib.sha256(data).hexdigest()


def test_checksum_mismatches_keep_nothing(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    before = storage_files(lodge_system)
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    md5 = student.post(
        files_url(deposit["id"]),
        params={"filename": "a.pdf"},
        data=PDF,
        headers={"Content-MD5": wrong_md5},
    )
    assert expect(md5, 422)["error"]["fields"] == {"md5": ["does not match the uploaded bytes"]}
    garbled = student.post(
        files_url(deposit["id"]),
        params={"filename": "a.pdf"},
        data=PDF,
        headers={"Digest": "sha-256=not base64!"},
    )
    assert expect(garbled, 422)["error"]["fields"] == {"sha256": ["is not base64"]}
    assert_nothing_new(lodge_system, before, deposit["id"], student)


def test_a_compression_bomb_is_flagged_at_upload_and_returned_after_submit(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)  # approved automatically
    bomb = corpus.compressed_zeros("gz", 200 * corpus.MiB)  # 204 KB holding 200 MiB
    created = student.upload(deposit["id"], "levels.csv.gz", bomb)
    flagged = [c for c in created["precheck"]["checks"] if not c["passed"]]
    assert [c["code"] for c in flagged] == ["archive_bomb"]
    assert "zip bombs" in flagged[0]["message"]
    student.submit(deposit["id"])
    returned = lodge_system.wait_for_status(student, deposit["id"], "returned", timeout=90)
    [report] = returned["validation_report"]["files"]
    assert {c["check"]: c["code"] for c in report["checks"] if not c["passed"]} == {
        "archive": "archive_bomb"
    }
