"""Resumable uploads (tus 1.0) against a running Lodge, driven by a real tus client (tuspy)
and by hand where a client would not misbehave on purpose."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
from urllib.parse import urlsplit

import pytest
from tusclient import client as tus

from tests.support.system import REPO_ROOT, expect, poll_until

OPEN_WORK = {
    "title": "Tidal patterns",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Tides.",
    "date": "2026",
}
THESIS = {**OPEN_WORK, "degree": "Master"}
TUS = {"Tus-Resumable": "1.0.0"}
MiB = 1024 * 1024


def pdf_bytes(size: int) -> bytes:
    head = b"%PDF-1.4\n1 0 obj<<>>endobj\n"
    return head + os.urandom(size - len(head))


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def uploads_url(student, deposit_id: str) -> str:
    return student.api(f"deposits/{deposit_id}/uploads")


def tus_client(lodge_system, student, deposit_id: str) -> tus.TusClient:
    return tus.TusClient(
        uploads_url(student, deposit_id),
        headers={"Authorization": student.headers["Authorization"]},
    )


def create_upload(student, deposit_id, length, **meta) -> str:
    response = student.post(
        uploads_url(student, deposit_id),
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(**meta)},
    )
    expect(response, 201)
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Upload-Expires"].endswith("GMT")
    return response.headers["Location"]


def offset_of(student, url) -> int:
    response = student.head(url, headers=TUS)
    assert response.status_code == 200, response.text
    return int(response.headers["Upload-Offset"])


def patch(student, url, offset, data, **headers):
    return student.patch(
        url,
        data=data,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **headers,
        },
    )


def upload_dir(lodge_system):
    return lodge_system.data_dir / "storage" / "uploads"


def staged(lodge_system, deposit_id):
    folder = lodge_system.data_dir / "storage" / "staging" / deposit_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def send_and_drop(url: str, token: str, offset: int, declared: int, sent: bytes) -> None:
    """A PATCH whose connection breaks after `len(sent)` of `declared` bytes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(
            (
                f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Authorization: {token}\r\nTus-Resumable: 1.0.0\r\n"
                f"Upload-Offset: {offset}\r\n"
                f"Content-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {declared}\r\n\r\n"
            ).encode()
        )
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)


def test_a_dropped_upload_resumes_and_finishes_with_the_right_checksum(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    data = pdf_bytes(24 * MiB + 12345)
    half = len(data) // 2

    options = student.options(uploads_url(student, deposit["id"]))
    assert options.status_code == 204
    assert "creation" in options.headers["Tus-Extension"]
    assert "checksum" in options.headers["Tus-Extension"]

    url = create_upload(student, deposit["id"], len(data), filename="../../tides 2026.pdf")
    send_and_drop(url, student.headers["Authorization"], 0, len(data), data[:half])
    # what arrived before the connection broke is kept, so nothing is sent twice
    poll_until(
        lambda: offset_of(student, url) == half,
        timeout=60,
        description="the server keeping the bytes that arrived",
    )
    assert staged(lodge_system, deposit["id"]) == []  # nothing visible yet

    resumed = tus_client(lodge_system, student, deposit["id"]).uploader(
        file_stream=io.BytesIO(data), url=url, chunk_size=4 * MiB, upload_checksum=True
    )
    assert resumed.offset == half  # tuspy asked HEAD where to go on
    resumed.upload()

    status = expect(student.get(url), 200)
    assert status["complete"] and status["offset"] == len(data)
    file = status["file"]
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    assert file["size"] == len(data) and file["filename"] == "tides 2026.pdf"
    assert file["media_type"] == "application/pdf"
    assert status["precheck"]["passed"] is True
    files = student.deposit(deposit["id"])["files"]
    assert [(f["id"], f["sha256"]) for f in files] == [(file["id"], file["sha256"])]
    [stored] = staged(lodge_system, deposit["id"])
    stored_path = lodge_system.data_dir / "storage" / "staging" / deposit["id"] / stored
    assert hashlib.sha256(stored_path.read_bytes()).hexdigest() == file["sha256"]
    # its part file is gone (other tests on this Lodge may leave uploads of their own)
    upload_id = url.rstrip("/").rsplit("/", 1)[-1]
    assert not (upload_dir(lodge_system) / f"{upload_id}.part").exists()


def test_a_whole_upload_with_tuspy_becomes_a_file_of_the_deposit(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("thesis", THESIS)
    data = pdf_bytes(3 * MiB + 1)
    uploader = tus_client(lodge_system, student, deposit["id"]).uploader(
        file_stream=io.BytesIO(data),
        chunk_size=MiB,
        upload_checksum=True,
        metadata={"filename": "thesis.pdf", "sha256": hashlib.sha256(data).hexdigest()},
    )
    uploader.upload()
    status = expect(student.get(uploader.url), 200)
    assert status["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    student.submit(deposit["id"])
    lodge_system.wait_for_status(student, deposit["id"], "in_review", timeout=60)


def test_the_profile_limit_is_enforced_at_creation(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("thesis", THESIS)
    limit = 500 * MiB
    over = student.post(
        uploads_url(student, deposit["id"]),
        headers={
            **TUS,
            "Upload-Length": str(limit + 1),
            "Upload-Metadata": metadata(filename="a.pdf"),
        },
    )
    assert expect(over, 413)["error"]["fields"] == {"file": [f"larger than {limit} bytes"]}
    wrong_type = student.post(
        uploads_url(student, deposit["id"]),
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="thesis.pdf.exe"),
        },
    )
    assert "accepted" in expect(wrong_type, 422)["error"]["fields"]["file"][0]
    empty = student.post(
        uploads_url(student, deposit["id"]),
        headers={**TUS, "Upload-Length": "0", "Upload-Metadata": metadata(filename="a.pdf")},
    )
    assert expect(empty, 422)["error"]["fields"] == {"file": ["is empty"]}
    nameless = student.post(
        uploads_url(student, deposit["id"]), headers={**TUS, "Upload-Length": "10"}
    )
    assert expect(nameless, 422)["error"]["fields"] == {"filename": ["is required"]}
    no_version = student.post(
        uploads_url(student, deposit["id"]),
        headers={"Upload-Length": "10", "Upload-Metadata": metadata(filename="a.pdf")},
    )
    assert expect(no_version, 412)["error"]["fields"] == {"Tus-Resumable": ["must be 1.0.0"]}
    # nothing was created for any of these
    assert all(
        json.loads(p.read_text())["deposit_id"] != deposit["id"]
        for p in upload_dir(lodge_system).glob("*.json")
    )


def test_bytes_beyond_the_declared_length_and_bad_offsets_are_refused(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    data = pdf_bytes(1000)
    url = create_upload(student, deposit["id"], len(data), filename="a.pdf")
    too_much = patch(student, url, 0, data + b"x")
    assert expect(too_much, 413)["error"]["code"] == "too_large"
    assert offset_of(student, url) == 0
    expect(patch(student, url, 0, data[:400]), 204)
    wrong_offset = patch(student, url, 100, data[100:])
    assert expect(wrong_offset, 409)["error"]["fields"] == {"Upload-Offset": ["must be 400"]}
    bad = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    damaged = patch(student, url, 400, data[400:], **{"Upload-Checksum": f"sha1 {bad}"})
    assert damaged.status_code == 460
    assert damaged.json()["error"]["fields"] == {"Upload-Checksum": ["does not match the bytes"]}
    assert offset_of(student, url) == 400
    good = base64.b64encode(hashlib.sha256(data[400:]).digest()).decode()
    done = patch(student, url, 400, data[400:], **{"Upload-Checksum": f"sha256 {good}"})
    expect(done, 204)
    assert done.headers["Upload-Offset"] == str(len(data))
    assert done.headers["Lodge-File-Id"] == student.deposit(deposit["id"])["files"][0]["id"]
    again = patch(student, url, len(data), b"x")
    assert expect(again, 409)["error"]["code"] == "conflict"


def test_a_whole_file_checksum_mismatch_keeps_nothing(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    data = pdf_bytes(2000)
    url = create_upload(
        student,
        deposit["id"],
        len(data),
        filename="a.pdf",
        sha256=hashlib.sha256(b"something else").hexdigest(),
    )
    refused = patch(student, url, 0, data)
    assert expect(refused, 422)["error"]["fields"] == {
        "sha256": ["does not match the uploaded bytes"]
    }
    assert student.head(url, headers=TUS).status_code == 404
    assert student.deposit(deposit["id"])["files"] == []
    assert staged(lodge_system, deposit["id"]) == []
    upload_id = url.rsplit("/", 1)[1]
    assert not list(upload_dir(lodge_system).glob(f"{upload_id}*"))


def test_an_upload_is_only_its_owners_and_can_be_terminated(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    url = create_upload(student, deposit["id"], 100, filename="a.pdf")
    expect(patch(student, url, 0, b"%PDF" + b"x" * 46), 204)
    stranger = lodge_system.client("faculty")
    assert stranger.head(url, headers=TUS).status_code == 404
    assert expect(patch(stranger, url, 50, b"y" * 50), 404)["error"]["code"] == "not_found"
    assert expect(stranger.delete(url, headers=TUS), 404)
    assert offset_of(student, url) == 50
    expect(student.delete(url, headers=TUS), 204)
    assert student.head(url, headers=TUS).status_code == 404
    upload_id = url.rsplit("/", 1)[1]
    assert not list(upload_dir(lodge_system).glob(f"{upload_id}*"))


def test_abandoned_uploads_expire_and_are_cleaned_up(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    url = create_upload(student, deposit["id"], 100, filename="a.pdf")
    expect(patch(student, url, 0, b"%PDF" + b"x" * 20), 204)
    upload_id = url.rsplit("/", 1)[1]
    info = upload_dir(lodge_system) / f"{upload_id}.json"
    record = json.loads(info.read_text())
    record["expires_at"] -= 2 * 24 * 3600  # two days pass
    info.write_text(json.dumps(record))
    result = subprocess.run(
        [lodge_system.python, "-m", "lodge", "expire-uploads"],
        cwd=REPO_ROOT,
        env=lodge_system.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "expired" in result.stdout
    assert not list(upload_dir(lodge_system).glob(f"{upload_id}*"))
    assert student.head(url, headers=TUS).status_code == 404


@pytest.mark.parametrize("name", ["../../../etc/passwd.pdf", "re\x00port\x07.pdf"])
def test_unsafe_names_in_upload_metadata_are_sanitised(lodge_system, name):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    data = pdf_bytes(500)
    url = create_upload(student, deposit["id"], len(data), filename=name)
    expect(patch(student, url, 0, data), 204)
    kept = expect(student.get(url), 200)["file"]["filename"]
    assert kept in ("passwd.pdf", "report.pdf")


def test_head_echoes_the_metadata_and_options_tell_the_limit_and_the_algorithms(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("thesis", THESIS)
    url = create_upload(student, deposit["id"], 4000, filename="thesis.pdf", note="Grüße")
    head = student.head(url, headers=TUS)
    assert head.headers["Upload-Metadata"] == metadata(filename="thesis.pdf", note="Grüße")
    options = student.options(uploads_url(student, deposit["id"]))
    assert options.status_code == 204 and options.headers["Tus-Version"] == "1.0.0"
    assert options.headers["Tus-Max-Size"] == str(500 * MiB)  # the thesis profile's limit
    # anyone may discover the protocol; the limit is told to whoever may upload here
    anonymous = lodge_system.client().options(uploads_url(student, deposit["id"]))
    assert anonymous.status_code == 204 and "Tus-Max-Size" not in anonymous.headers
    # every algorithm advertised is accepted for a chunk, any other is a 400
    data, offset = pdf_bytes(4000), 0
    for algorithm in options.headers["Tus-Checksum-Algorithm"].split(","):
        chunk = data[offset : offset + 1000]
        digest = base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()
        expect(
            patch(student, url, offset, chunk, **{"Upload-Checksum": f"{algorithm} {digest}"}), 204
        )
        offset += len(chunk)
    unsupported = patch(
        student, url, offset, data[offset:], **{"Upload-Checksum": "crc32 AAAAAA=="}
    )
    assert expect(unsupported, 400)["error"]["fields"] == {
        "Upload-Checksum": ["use one of sha1, sha256, md5"]
    }
    assert offset_of(student, url) == offset


def test_a_client_that_can_only_post_sends_patch_and_delete_as_overrides(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    data = pdf_bytes(1000)
    url = create_upload(student, deposit["id"], len(data), filename="a.pdf")
    sent = student.post(
        url,
        data=data[:600],
        headers={
            **TUS,
            "X-HTTP-Method-Override": "PATCH",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    expect(sent, 204)
    assert sent.headers["Upload-Offset"] == "600" and offset_of(student, url) == 600
    for other in ("GET", "PUT", "POST", "x" * 5000):  # nothing else is overridden
        refused = student.post(url, headers={**TUS, "X-HTTP-Method-Override": other})
        assert expect(refused, 405)["error"]["code"] == "method_not_allowed"
    stranger = lodge_system.client("faculty")
    stolen = stranger.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"})
    assert stolen.status_code == 404
    expect(student.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}), 204)
    assert student.head(url, headers=TUS).status_code == 404
    # only an upload's URL takes an override
    other = student.post(
        student.api(f"deposits/{deposit['id']}/actions/submit"),
        json={},
        headers={"X-HTTP-Method-Override": "DELETE"},
    )
    assert other.status_code != 405  # it stayed a POST (that path has no DELETE)


def test_requests_without_credentials_get_401_not_a_csrf_error(lodge_system):
    anonymous = lodge_system.client()
    deposit = lodge_system.client("student").create_deposit("open-works", OPEN_WORK)
    for response in (
        anonymous.post(
            uploads_url(anonymous, deposit["id"]),
            headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a.pdf")},
        ),
        anonymous.post(anonymous.api("deposits"), json={"profile_id": "thesis"}),
    ):
        assert expect(response, 401)["error"]["code"] == "unauthorized"
