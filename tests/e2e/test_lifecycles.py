"""Deposit lifecycles end to end, through the REST API only, against a Lodge in processes
of its own (see tests/support/system.py). Every test makes its own deposits, with unique
titles, so the tests share one running Lodge without depending on each other.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import struct
import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path

import jinja2
import pytest

from tests.support.system import REPO_ROOT, expect, poll_until

API = "/api/v1"
LETTER_TEMPLATES = REPO_ROOT / "services" / "letters" / "templates"
STUDENT_EMAIL = "student@example.edu"
MiB = 1024**2


def pdf_bytes(label: str) -> bytes:
    """A small, well-formed PDF, different for every label."""
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"% " + label.encode() + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def elf_bytes() -> bytes:
    """The start of an x86-64 executable: libmagic calls it application/x-executable."""
    return b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 0x3E, 1) + bytes(4096)


def unique_title(what: str) -> str:
    return f"E2E {what} {uuid.uuid4().hex[:8]}"


def work_metadata(title: str, **extra) -> dict:
    return {
        "title": title,
        "creators": [{"name": "Sam Student"}],
        "abstract": "An abstract long enough to describe the work.",
        "date": "2024-05-01",
        **extra,
    }


def thesis_metadata(title: str, **extra) -> dict:
    return work_metadata(title, degree="Master", **extra)


def statuses(deposit: dict) -> list[str]:
    return [row["to_status"] for row in deposit["history"]]


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is `status` with the API's error shape; returns the error object."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.text[:1000]}"
    )
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "fields"} <= set(error), error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["fields"], dict), error
    if code is not None:
        assert error["code"] == code, error
    return error


def deposit_count(client) -> int:
    return expect(client.get(f"{API}/deposits", params={"per_page": 1}), 200)["total"]


def find_review(approver, deposit_id: str, revision: int | None = None) -> dict | None:
    """The deposit's open review task in the approver's queue, or None."""
    page = 1
    while True:
        result = expect(approver.get(f"{API}/reviews", params={"page": page, "per_page": 100}), 200)
        for task in result["items"]:
            if task["deposit_id"] == deposit_id and revision in (None, task["revision"]):
                return task
        if page * result["per_page"] >= result["total"] or not result["items"]:
            return None
        page += 1


def wait_for_review(
    approver, deposit_id: str, revision: int | None = None, timeout: float = 30
) -> dict:
    return poll_until(
        lambda: find_review(approver, deposit_id, revision),
        timeout,
        description=f"review of deposit {deposit_id} (revision {revision}) in the approvers' queue",
    )


def letters_to(mail_dir: Path, recipient: str) -> list:
    messages = []
    for path in sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else ():
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if any(address.addr_spec == recipient for address in message["To"].addresses):
            messages.append(message)
    return messages


def letter_subject(letter_type: str, **context) -> str:
    first_line = (LETTER_TEMPLATES / f"{letter_type}.en.txt").read_text().splitlines()[0]
    return jinja2.Template(first_line).render(**context).removeprefix("Subject: ").strip()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student(lodge_system):
    return lodge_system.client("student")


@pytest.fixture(scope="module")
def faculty(lodge_system):
    return lodge_system.client("faculty")


@pytest.fixture(scope="module")
def approver(lodge_system):
    return lodge_system.client("approver")


@pytest.fixture(scope="module")
def anonymous(lodge_system):
    return lodge_system.client(None)


def make_thesis_in_review(lodge_system, student, approver, what: str):
    """A thesis by the student that passed its checks and waits in the approvers' queue."""
    title = unique_title(what)
    deposit = student.create_deposit("thesis", thesis_metadata(title))
    student.upload(deposit["id"], "thesis.pdf", pdf_bytes(title))
    student.submit(deposit["id"])
    deposit = lodge_system.wait_for_status(student, deposit["id"], "in_review")
    task = wait_for_review(approver, deposit["id"], revision=1)
    assert task["state"] == "open" and task["title"] == title, task
    return deposit


def make_archived_work(lodge_system, student, what: str, content: bytes | None = None):
    title = unique_title(what)
    deposit = student.create_deposit("open-works", work_metadata(title))
    student.upload(deposit["id"], "work.pdf", content or pdf_bytes(title))
    student.submit(deposit["id"])
    return lodge_system.wait_for_status(student, deposit["id"], "archived")


# --- (a) automatic approval ---------------------------------------------------------------


def test_open_works_deposit_is_archived_and_its_file_downloads_intact(
    lodge_system, student, anonymous
):
    title = unique_title("open work")
    content = pdf_bytes(title) * 50
    digest = hashlib.sha256(content).hexdigest()

    deposit = student.create_deposit("open-works", work_metadata(title))
    assert deposit["status"] == "draft" and deposit["revision"] == 1
    uploaded = student.upload(deposit["id"], "paper.pdf", content)
    assert uploaded["filename"] == "paper.pdf"
    assert uploaded["size"] == len(content)
    assert uploaded["sha256"] == digest
    assert uploaded["media_type"] == "application/pdf"

    submitted = student.submit(deposit["id"])
    assert submitted["status"] == "submitted"

    archived = lodge_system.wait_for_status(student, deposit["id"], "archived")
    assert archived["item_id"] and archived["item_identifier"]
    assert archived["validation_report"]["passed"] is True
    assert statuses(archived) == ["draft", "submitted", "in_review", "approved", "archived"]
    history = archived["history"]
    assert [row["from_status"] for row in history] == [
        None,
        "draft",
        "submitted",
        "in_review",
        "approved",
    ]
    assert all(row["revision"] == 1 for row in history)
    approval = history[3]
    assert approval["actor"]["id"] == "system", approval
    assert approval["reason_code"] == "automatic", approval

    item = expect(anonymous.get(f"{API}/items/{archived['item_id']}"), 200)
    assert item["id"] == archived["item_id"]
    assert item["deposit_id"] == deposit["id"]
    assert item["identifier"] == archived["item_identifier"]
    assert item["collection"] == "open-works"
    assert item["record"]["title"] == [title]
    files = [f for representation in item["representations"] for f in representation["files"]]
    assert [(f["id"], f["filename"], f["size"], f["sha256"]) for f in files] == [
        (uploaded["id"], "paper.pdf", len(content), digest)
    ]

    download = anonymous.get(f"{API}/items/{item['id']}/files/{uploaded['id']}")
    assert download.status_code == 200, download.text[:500]
    assert download.content == content
    assert hashlib.sha256(download.content).hexdigest() == digest
    assert (
        download.headers["Digest"]
        == "sha-256=" + base64.b64encode(hashlib.sha256(content).digest()).decode()
    )
    # local storage serves byte ranges too (a resumed download, a seeking player)
    part = anonymous.get(
        f"{API}/items/{item['id']}/files/{uploaded['id']}", headers={"Range": "bytes=100-199"}
    )
    assert part.status_code == 206 and part.content == content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(content)}"


# --- (b) manual approval ------------------------------------------------------------------


def test_thesis_waits_for_an_approver_and_is_archived_once_approved(
    lodge_system, student, approver
):
    deposit = make_thesis_in_review(lodge_system, student, approver, "approved thesis")
    assert statuses(deposit) == ["draft", "submitted", "in_review"]

    task = expect(
        approver.post(
            f"{API}/reviews/{deposit['id']}/actions/approve", json={"note": "A fine thesis."}
        ),
        200,
    )
    assert task["state"] == "decided"
    assert task["decision"]["decision"] == "approve"

    archived = lodge_system.wait_for_status(student, deposit["id"], "archived")
    assert statuses(archived) == ["draft", "submitted", "in_review", "approved", "archived"]
    approval = archived["history"][3]
    assert approval["actor"]["name"] == "Alex Approver", approval
    assert approval["note"] == "A fine thesis."
    item = expect(student.get(f"{API}/items/{archived['item_id']}"), 200)
    assert item["collection"] == "theses"
    assert find_review(approver, deposit["id"]) is None  # no longer waiting


# --- (c) decline --------------------------------------------------------------------------


def test_declined_thesis_is_final_and_history_keeps_the_reason(lodge_system, student, approver):
    deposit = make_thesis_in_review(lodge_system, student, approver, "declined thesis")
    expect(
        approver.post(
            f"{API}/reviews/{deposit['id']}/actions/decline",
            json={"reason_code": "out_of_scope", "note": "Not a thesis."},
        ),
        200,
    )

    declined = lodge_system.wait_for_status(student, deposit["id"], "declined")
    assert statuses(declined) == ["draft", "submitted", "in_review", "declined"]
    last = declined["history"][-1]
    assert last["from_status"] == "in_review"
    assert last["reason_code"] == "out_of_scope"
    assert last["note"] == "Not a thesis."
    assert last["actor"]["name"] == "Alex Approver"
    assert declined["item_id"] is None
    # final: the depositor can neither resubmit nor withdraw it
    assert_error(student.post(f"{API}/deposits/{deposit['id']}/actions/submit"), 409)
    assert_error(student.post(f"{API}/deposits/{deposit['id']}/actions/withdraw"), 409)
    assert student.deposit(deposit["id"])["history"] == declined["history"]


# --- (d) return, edit, resubmit -------------------------------------------------------------


def test_returned_thesis_is_edited_resubmitted_as_revision_2_and_archived(
    lodge_system, student, approver
):
    deposit = make_thesis_in_review(lodge_system, student, approver, "returned thesis")
    expect(
        approver.post(
            f"{API}/reviews/{deposit['id']}/actions/return",
            json={"reason_code": "metadata_incomplete", "note": "Please expand the abstract."},
        ),
        200,
    )

    returned = lodge_system.wait_for_status(student, deposit["id"], "returned")
    last = returned["history"][-1]
    assert (last["from_status"], last["to_status"]) == ("in_review", "returned")
    assert last["reason_code"] == "metadata_incomplete"
    assert last["note"] == "Please expand the abstract."
    assert returned["revision"] == 1

    metadata = {**returned["metadata"], "abstract": "A much fuller abstract, as asked."}
    patched = expect(
        student.patch(f"{API}/deposits/{deposit['id']}", json={"metadata": metadata}), 200
    )
    assert patched["metadata"]["abstract"] == "A much fuller abstract, as asked."
    assert patched["status"] == "returned"

    resubmitted = student.submit(deposit["id"])
    assert resubmitted["status"] == "submitted"
    assert resubmitted["revision"] == 2

    lodge_system.wait_for_status(student, deposit["id"], "in_review")
    task = wait_for_review(approver, deposit["id"], revision=2)
    assert task["state"] == "open"
    expect(
        approver.post(
            f"{API}/reviews/{deposit['id']}/actions/approve", json={"note": "Thank you."}
        ),
        200,
    )

    archived = lodge_system.wait_for_status(student, deposit["id"], "archived")
    assert archived["revision"] == 2
    assert statuses(archived) == [
        "draft",
        "submitted",
        "in_review",
        "returned",
        "submitted",
        "in_review",
        "approved",
        "archived",
    ]
    assert [row["revision"] for row in archived["history"]] == [1, 1, 1, 1, 2, 2, 2, 2]
    item = expect(student.get(f"{API}/items/{archived['item_id']}"), 200)
    assert item["record"]["description"] == ["A much fuller abstract, as asked."]


# --- (e) withdraw ---------------------------------------------------------------------------


def test_withdrawn_thesis_can_no_longer_be_approved(lodge_system, student, approver):
    deposit = make_thesis_in_review(lodge_system, student, approver, "withdrawn thesis")
    withdrawn = expect(
        student.post(
            f"{API}/deposits/{deposit['id']}/actions/withdraw",
            json={"note": "Submitted too early."},
        ),
        200,
    )
    assert withdrawn["status"] == "withdrawn"
    last = withdrawn["history"][-1]
    assert (last["from_status"], last["to_status"]) == ("in_review", "withdrawn")
    assert last["note"] == "Submitted too early."

    assert_error(
        approver.post(f"{API}/reviews/{deposit['id']}/actions/approve", json={"note": "Too late?"}),
        409,
        "conflict",
    )
    after = student.deposit(deposit["id"])
    assert after["status"] == "withdrawn"
    assert after["history"] == withdrawn["history"]
    assert after["item_id"] is None
    assert find_review(approver, deposit["id"]) is None


def test_a_deposit_returned_by_an_approver_can_be_withdrawn(lodge_system, student, approver):
    deposit = make_thesis_in_review(lodge_system, student, approver, "returned then withdrawn")
    expect(
        approver.post(
            f"{API}/reviews/{deposit['id']}/actions/return",
            json={"reason_code": "wrong_file", "note": "Wrong PDF."},
        ),
        200,
    )
    returned = lodge_system.wait_for_status(student, deposit["id"], "returned")

    response = student.post(
        f"{API}/deposits/{deposit['id']}/actions/withdraw",
        json={"note": "I will deposit elsewhere."},
    )
    after = student.deposit(deposit["id"])
    assert response.status_code == 200, (
        f"withdraw answered {response.status_code}: {response.text[:500]}; "
        f"deposit still {after['status']} ({len(after['history'])} history rows, "
        f"{len(returned['history'])} before)"
    )
    assert after["status"] == "withdrawn"
    last = after["history"][-1]
    assert (last["from_status"], last["to_status"]) == ("returned", "withdrawn")


# --- (f) automatic checks fail ------------------------------------------------------------------


def test_a_program_named_pdf_fails_the_checks_and_the_student_gets_a_letter(lodge_system, student):
    title = unique_title("executable thesis")
    deposit = student.create_deposit("thesis", thesis_metadata(title))
    student.upload(deposit["id"], "thesis.pdf", elf_bytes())
    student.submit(deposit["id"])

    returned = lodge_system.wait_for_status(student, deposit["id"], "returned")
    assert statuses(returned) == ["draft", "submitted", "returned"]
    assert returned["history"][-1]["reason_code"] == "checks_failed"
    report = returned["validation_report"]
    assert report["passed"] is False
    assert report["revision"] == 1
    [file_report] = report["files"]
    assert file_report["filename"] == "thesis.pdf"
    assert file_report["passed"] is False
    format_checks = [check for check in file_report["checks"] if check["check"] == "format"]
    assert len(format_checks) == 1 and format_checks[0]["passed"] is False, file_report
    assert format_checks[0]["message"]

    subject = letter_subject("validation_failed", title=title)
    letters = poll_until(
        lambda: [
            m for m in letters_to(lodge_system.mail_dir, STUDENT_EMAIL) if m["Subject"] == subject
        ],
        timeout=30,
        description=f"a letter {subject!r} to {STUDENT_EMAIL}",
    )
    assert len(letters) == 1
    body = letters[0].get_body(("plain",)).get_content()
    assert "thesis.pdf" in body
    assert format_checks[0]["message"] in body


def test_a_deposit_returned_by_the_checks_can_be_fixed_and_resubmitted(
    lodge_system, student, approver
):
    title = unique_title("fixed thesis")
    deposit = student.create_deposit("thesis", thesis_metadata(title))
    bad = student.upload(deposit["id"], "thesis.pdf", b"just some words, not a PDF\n" * 20)
    student.submit(deposit["id"])
    returned = lodge_system.wait_for_status(student, deposit["id"], "returned")
    assert returned["validation_report"]["passed"] is False
    assert find_review(approver, deposit["id"]) is None  # the approvers never see it

    expect(student.delete(f"{API}/deposits/{deposit['id']}/files/{bad['id']}"), 204)
    good = student.upload(deposit["id"], "thesis.pdf", pdf_bytes(title))
    resubmitted = student.submit(deposit["id"])
    assert resubmitted["revision"] == 2
    assert resubmitted["validation_report"] is None

    in_review = lodge_system.wait_for_status(student, deposit["id"], "in_review")
    assert in_review["revision"] == 2
    assert in_review["validation_report"]["passed"] is True
    assert in_review["validation_report"]["revision"] == 2
    assert [f["id"] for f in in_review["files"]] == [good["id"]]
    assert statuses(in_review) == ["draft", "submitted", "returned", "submitted", "in_review"]
    wait_for_review(approver, deposit["id"], revision=2)


# --- (g) bad input: a clear 4xx, and nothing changes ----------------------------------------------


def test_unknown_profile_is_404(student):
    before = deposit_count(student)
    assert_error(
        student.post(f"{API}/deposits", json={"profile_id": "nope", "metadata": {}}),
        404,
        "not_found",
    )
    assert deposit_count(student) == before


def test_submit_without_required_metadata_is_422_and_changes_nothing(student):
    deposit = student.create_deposit("thesis", {"title": unique_title("incomplete thesis")})
    student.upload(deposit["id"], "thesis.pdf", pdf_bytes("incomplete"))
    before = student.deposit(deposit["id"])

    error = assert_error(
        student.post(f"{API}/deposits/{deposit['id']}/actions/submit"), 422, "invalid_input"
    )
    missing = error["fields"]["metadata"]
    assert {"creators", "abstract", "date", "degree"} <= set(missing), error
    assert "title" not in missing

    after = student.deposit(deposit["id"])
    assert after["status"] == "draft" and after["revision"] == 1
    assert after["history"] == before["history"]


def test_submitting_an_archived_deposit_is_an_invalid_transition(lodge_system, student):
    archived = make_archived_work(lodge_system, student, "twice submitted")
    assert_error(
        student.post(f"{API}/deposits/{archived['id']}/actions/submit"), 409, "invalid_transition"
    )
    after = student.deposit(archived["id"])
    assert after["status"] == "archived"
    assert after["revision"] == archived["revision"]
    assert after["history"] == archived["history"]


def test_another_patrons_deposit_is_not_found(student, faculty):
    title = unique_title("private draft")
    deposit = student.create_deposit("open-works", work_metadata(title))
    student.upload(deposit["id"], "work.pdf", pdf_bytes(title))
    before = student.deposit(deposit["id"])
    path = f"{API}/deposits/{deposit['id']}"

    assert_error(faculty.get(path), 404, "not_found")
    assert_error(faculty.patch(path, json={"metadata": work_metadata("Hijacked")}), 404)
    assert_error(faculty.post(f"{path}/actions/submit"), 404)
    assert_error(faculty.post(f"{path}/actions/withdraw"), 404)
    assert_error(
        faculty.post(f"{path}/files", params={"filename": "x.pdf"}, data=pdf_bytes("intruder")), 404
    )
    assert_error(faculty.delete(f"{path}/files/{before['files'][0]['id']}"), 404)
    assert deposit["id"] not in [
        d["id"]
        for d in expect(faculty.get(f"{API}/deposits", params={"per_page": 100}), 200)["items"]
    ]

    assert student.deposit(deposit["id"]) == before


def test_declared_oversized_upload_is_413_before_the_body_is_sent(lodge_system, student):
    deposit = student.create_deposit("thesis", thesis_metadata(unique_title("huge thesis")))
    declared = 600 * MiB  # the thesis profile allows 500 MiB per file

    connection = http.client.HTTPConnection("127.0.0.1", lodge_system.port, timeout=30)
    try:
        connection.putrequest("POST", f"{API}/deposits/{deposit['id']}/files?filename=huge.pdf")
        connection.putheader("Authorization", student.headers["Authorization"])
        connection.putheader("Accept", "application/json")
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(declared))
        # the headers and only the first bytes go out together; the rest never does
        connection.endheaders(b"%PDF-1.4\n")
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()

    assert status == 413, body[:1000]
    error = json.loads(body)["error"]
    assert error["code"] == "too_large" and error["message"] and isinstance(error["fields"], dict)
    after = student.deposit(deposit["id"])
    assert after["files"] == []
    assert after["status"] == "draft"


def test_upload_beyond_the_profiles_file_count_is_409(student):
    deposit = student.create_deposit("thesis", thesis_metadata(unique_title("many files")))
    for number in range(5):  # the thesis profile allows 5 files
        student.upload(deposit["id"], f"part{number}.pdf", pdf_bytes(f"part {number}"))

    assert_error(
        student.post(
            f"{API}/deposits/{deposit['id']}/files",
            params={"filename": "part5.pdf"},
            data=pdf_bytes("part 5"),
        ),
        409,
        "conflict",
    )
    assert len(student.deposit(deposit["id"])["files"]) == 5


def test_malformed_json_is_a_client_error_with_the_error_shape(student):
    before = deposit_count(student)
    response = student.post(
        f"{API}/deposits",
        data=b'{"profile_id": "open-works", ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert_error(response, response.status_code)
    assert deposit_count(student) == before

    deposit = student.create_deposit("open-works", work_metadata(unique_title("json")))
    response = student.patch(
        f"{API}/deposits/{deposit['id']}",
        data=b"{metadata: nope}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert_error(response, response.status_code)
    assert student.deposit(deposit["id"])["metadata"] == deposit["metadata"]


def test_a_patron_may_not_use_the_review_queue(student, lodge_system):
    assert_error(student.get(f"{API}/reviews"), 403)
    deposit = student.create_deposit("open-works", work_metadata(unique_title("self review")))
    assert_error(student.post(f"{API}/reviews/{deposit['id']}/actions/approve", json={}), 403)
    assert student.deposit(deposit["id"])["status"] == "draft"
