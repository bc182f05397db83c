"""`lodge run` keeping its files in S3 (a real moto_server), configured only by environment:
plain and resumable uploads land in the bucket, the item's file is copied to permanent
storage there, and downloads stream from it."""

from __future__ import annotations

import hashlib
import io

import pytest
from tusclient import client as tus

from tests.e2e.test_lifecycles import (
    pdf_bytes,
    thesis_metadata,
    unique_title,
    wait_for_review,
)
from tests.support.campus import PDF, THESIS, CampusSystem, event
from tests.support.system import LodgeSystem, expect

OPEN_WORK = {
    "title": "Tidal patterns",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Tides.",
    "date": "2026",
}


@pytest.fixture(scope="module")
def s3_lodge(s3_endpoint):
    bucket = f"lodge-e2e-{hashlib.sha1(str(id(s3_endpoint)).encode()).hexdigest()[:8]}"
    system = LodgeSystem("sqlite", label="s3", extra_env=s3_endpoint.lodge_env(bucket))
    system.bucket = bucket  # `lodge migrate` creates it
    system.start()
    yield system
    system.stop()


def test_files_go_to_s3_and_come_back(s3_lodge, s3_endpoint):
    student = s3_lodge.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    small = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    large = b"%PDF-1.4\n" + bytes(range(256)) * (12 * 4096)  # over one 8 MiB part
    student.upload(deposit["id"], "small.pdf", small)
    uploader = tus.TusClient(
        student.api(f"deposits/{deposit['id']}/uploads"),
        headers={"Authorization": student.headers["Authorization"]},
    ).uploader(
        file_stream=io.BytesIO(large), chunk_size=4 * 2**20, metadata={"filename": "large.pdf"}
    )
    uploader.upload()
    assert (
        expect(student.get(uploader.url), 200)["file"]["sha256"]
        == hashlib.sha256(large).hexdigest()
    )
    staged = s3_endpoint.objects(s3_lodge.bucket, f"staging/{deposit['id']}/")
    assert len(staged) == 2
    assert not (s3_lodge.data_dir / "storage" / "staging").exists()

    student.submit(deposit["id"])
    archived = s3_lodge.wait_for_status(student, deposit["id"], "archived", timeout=120)
    assert s3_endpoint.objects(s3_lodge.bucket, "staging/") == []
    assert len(s3_endpoint.objects(s3_lodge.bucket, "permanent/")) == 2
    assert s3_endpoint.multipart_uploads_in_progress(s3_lodge.bucket) == []
    item = expect(student.get(f"/api/v1/items/{archived['item_id']}"), 200)
    by_name = {f["filename"]: f for r in item["representations"] for f in r["files"]}
    download = student.get(f"/api/v1/items/{item['id']}/files/{by_name['large.pdf']['id']}")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(large).hexdigest()


def test_previews_and_downloads_from_s3_serve_byte_ranges(s3_lodge):
    """A media player seeks with Range requests: the review preview (to an approver) and
    the item's file (to anyone) answer 206 with exactly the bytes asked, straight from S3."""
    student, approver = s3_lodge.client("student"), s3_lodge.client("approver")
    title = unique_title("ranges on s3")
    content = pdf_bytes(title) * 200
    deposit = student.create_deposit("thesis", thesis_metadata(title))
    uploaded = student.upload(deposit["id"], "thesis.pdf", content)
    student.submit(deposit["id"])
    s3_lodge.wait_for_status(student, deposit["id"], "in_review")
    wait_for_review(approver, deposit["id"], revision=1)

    preview = f"/api/v1/reviews/{deposit['id']}/files/{uploaded['id']}"
    whole = approver.get(preview)
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = approver.get(preview, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == content[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(content)}"
    assert (
        approver.get(preview, headers={"If-None-Match": f'"{uploaded["sha256"]}"'}).status_code
        == 304
    )

    expect(approver.post(f"/api/v1/reviews/{deposit['id']}/actions/approve", json={}), 200)
    archived = s3_lodge.wait_for_status(student, deposit["id"], "archived", timeout=120)
    item = expect(student.get(f"/api/v1/items/{archived['item_id']}"), 200)
    [stored] = [f for r in item["representations"] for f in r["files"]]
    download = f"/api/v1/items/{item['id']}/files/{stored['id']}"
    tail = student.get(download, headers={"Range": f"bytes={len(content) - 100}-"})
    assert tail.status_code == 206 and tail.content == content[-100:]
    beyond = student.get(download, headers={"Range": f"bytes={len(content) + 5}-"})
    assert beyond.status_code == 416


def test_a_campus_system_stages_a_file_on_s3_for_its_deposit_request(s3_lodge, s3_endpoint):
    """A file by reference on the S3 endpoint: the system stages it in its own bucket, which
    its allow-list names; intake archives the deposit with that file."""
    staging = s3_endpoint.new_bucket("thesisflow")
    s3_endpoint.client().put_object(Bucket=staging, Key="t/thesis.pdf", Body=PDF)
    system = CampusSystem(
        s3_lodge, "stager", {"thesis": "mediated"}, allowed_hosts=[f"s3://{staging}"]
    )
    system.register().start()
    try:
        reference = {
            "filename": "thesis.pdf",
            "size": len(PDF),
            "sha256": hashlib.sha256(PDF).hexdigest(),
            "s3": {"bucket": staging, "key": "t/thesis.pdf"},
        }
        request = {
            "depositor": {"username": "student"},
            "profile_id": "thesis",
            "metadata": {**THESIS, "title": unique_title("Staged on S3")},
            "accept_terms": True,
            "files": [reference],
            "submit": True,
        }
        data = system.request(event(request))
        assert data["error"] is None, data["error"]
        staff = s3_lodge.client("staff")
        archived = s3_lodge.wait_for_status(staff, data["deposit_id"], "archived", timeout=90)
        assert [(f["filename"], f["sha256"]) for f in archived["files"]] == [
            ("thesis.pdf", reference["sha256"])
        ]
        # a bucket the system does not name is refused, with the field that says so
        elsewhere = {**reference, "s3": {"bucket": s3_lodge.bucket, "key": "t/thesis.pdf"}}
        refused = system.request(event({**request, "files": [elsewhere]}))
        assert refused["error"]["fields"]["files"]["0"]["s3"]
    finally:
        system.stop()
