"""A patron's limits on unfinished work, and abandoned drafts, on a Lodge of its own with
small limits: the API's 429 and 413 with the error shape, the room left in the API and the
portal, parallel uploads that cannot both take the last room, and an untouched draft warned by
letter (a real SMTP server), then removed with its staged files. The drafts' time passes in the
database (their timestamps moved back), not on the clock."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta

import psycopg2
import pytest

from tests.support.smtp import SMTPServer
from tests.support.system import LodgeSystem, expect, poll_until, signed_in

OPEN_WORK = {
    "title": "Room",
    "creators": [{"name": "Fran Faculty"}],
    "abstract": "Limits.",
    "date": "2026",
}
TUS = {"Tus-Resumable": "1.0.0"}
STAGED = 4000
DAY = 24 * 3600
EXPIRY, NOTICE = 30 * DAY, 2 * DAY  # warned after 28 days untouched, removed after 30


def pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n"
    return head + b"x" * (size - len(head))


@pytest.fixture(scope="module")
def lodge():
    """Its own Lodge, small limits, and a mail server of its own."""
    with (
        SMTPServer() as smtp,
        LodgeSystem(
            "postgresql",
            label="quotas",
            extra_env={
                **smtp.env(),
                "LODGE_QUOTA_DRAFTS": "3",
                "LODGE_QUOTA_UPLOADS": "2",
                "LODGE_QUOTA_STAGED_BYTES": str(STAGED),
                "LODGE_DRAFT_EXPIRY_SECONDS": str(EXPIRY),
                "LODGE_DRAFT_WARNING_SECONDS": str(NOTICE),
                "LODGE_DRAFT_EXPIRY_INTERVAL": "1",
            },
        ) as system,
    ):
        system.smtp = smtp
        yield system


def refused(response, status: int, code: str, field: str) -> dict:
    body = expect(response, status)
    assert body["error"]["code"] == code and field in body["error"]["fields"], body
    assert body["error"]["message"]
    return body


def start_upload(client, deposit_id: str, length: int):
    name = base64.b64encode(b"part.pdf").decode()
    return client.post(
        f"/api/v1/deposits/{deposit_id}/uploads",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": f"filename {name}"},
    )


def send_whole(client, url: str, data: bytes):
    response = client.patch(
        url,
        data=data,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    expect(response, 204)
    return response


def staged_files(lodge, deposit_id: str) -> list[str]:
    folder = lodge.data_dir / "storage" / "staging" / deposit_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def move_back(lodge, deposit_id: str, seconds: float, *columns: str) -> None:
    """Time passes for one deposit: its `columns` (timestamps) moved `seconds` back."""
    shift = ", ".join(f"{column} = {column} - %(by)s" for column in columns)
    connection = psycopg2.connect(lodge.database_urls["intake"])
    with connection, connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE deposits SET {shift} WHERE id = %(id)s",
            {"by": timedelta(seconds=seconds), "id": deposit_id},
        )
        assert cursor.rowcount == 1
    connection.close()


@pytest.mark.timeout(900)
def test_limits_on_drafts_staged_bytes_and_uploads_answer_429_and_413(lodge):
    faculty = lodge.client("faculty")
    assert expect(faculty.get("/api/v1/quota"), 200) == {
        "drafts": {"used": 0, "limit": 3},
        "staged_bytes": {"used": 0, "limit": STAGED},
        "uploads": {"used": 0, "limit": 2},
    }
    drafts = [faculty.create_deposit("open-works", OPEN_WORK)["id"] for _ in range(3)]
    # always the caller's own: a named patron is ignored
    assert (
        expect(faculty.get("/api/v1/quota", params={"user": "student", "owner_id": "u-1"}), 200)[
            "drafts"
        ]["used"]
        == 3
    )
    refused(
        faculty.post("/api/v1/deposits", json={"profile_id": "open-works", "metadata": OPEN_WORK}),
        429,
        "quota_exceeded",
        "drafts",
    )

    faculty.upload(drafts[0], "big.pdf", pdf(3000))
    refused(
        faculty.post(
            f"/api/v1/deposits/{drafts[1]}/files",
            params={"filename": "b.pdf"},
            data=pdf(1500),
            headers={"Content-Type": "application/octet-stream"},
        ),
        413,
        "too_large",
        "file",
    )
    assert staged_files(lodge, drafts[1]) == []  # nothing of a refused upload stays

    # resumable uploads reserve what they declare, and only two may be unfinished
    first = start_upload(faculty, drafts[1], 600)
    expect(first, 201)
    refused(start_upload(faculty, drafts[2], 500), 413, "too_large", "staged_bytes")
    second = start_upload(faculty, drafts[2], 300)
    expect(second, 201)
    refused(start_upload(faculty, drafts[2], 10), 429, "quota_exceeded", "uploads")
    # a plain upload leaves unfinished uploads what they declared
    refused(
        faculty.post(
            f"/api/v1/deposits/{drafts[2]}/files",
            params={"filename": "c.pdf"},
            data=pdf(200),
            headers={"Content-Type": "application/octet-stream"},
        ),
        413,
        "too_large",
        "file",
    )
    assert expect(faculty.get("/api/v1/quota"), 200) == {
        "drafts": {"used": 3, "limit": 3},
        "staged_bytes": {"used": 3900, "limit": STAGED},
        "uploads": {"used": 2, "limit": 2},
    }

    # cancelling one gives its room back; an upload that takes exactly the last room finishes
    expect(faculty.delete(second.headers["Location"], headers=TUS), 204)
    send_whole(faculty, first.headers["Location"], pdf(600))
    last = start_upload(faculty, drafts[2], 400)
    expect(last, 201)
    assert send_whole(faculty, last.headers["Location"], pdf(400)).headers["Lodge-File-Id"]
    assert [f["size"] for f in faculty.deposit(drafts[2])["files"]] == [400]
    assert expect(faculty.get("/api/v1/quota"), 200)["staged_bytes"] == {
        "used": STAGED,
        "limit": STAGED,
    }
    refused(start_upload(faculty, drafts[2], 1), 413, "too_large", "staged_bytes")

    # the portal says how much room is left
    page = signed_in(lodge, "faculty").get(f"{lodge.base_url}/")
    assert "3 of 3 unfinished deposits" in page.text
    assert "3.9 KB of 3.9 KB of files staged" in page.text
    assert "0 of 2 uploads in progress" in page.text


@pytest.mark.timeout(900)
def test_two_uploads_at_once_cannot_both_take_the_last_room(lodge):
    staff = lodge.client("staff")  # staff deposit for themselves like any patron
    first, second = (staff.create_deposit("open-works", OPEN_WORK)["id"] for _ in range(2))
    staff.upload(first, "most.pdf", pdf(STAGED - 1000))
    start, answers = threading.Barrier(2), []

    def upload(deposit_id):
        start.wait()
        answers.append(
            staff.post(
                f"/api/v1/deposits/{deposit_id}/files",
                params={"filename": "last.pdf"},
                data=pdf(700),
                headers={"Content-Type": "application/octet-stream"},
            ).status_code
        )

    threads = [threading.Thread(target=upload, args=(d,)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201, 413]
    assert expect(staff.get("/api/v1/quota"), 200)["staged_bytes"]["used"] == STAGED - 300


@pytest.mark.timeout(900)
def test_an_untouched_draft_is_warned_then_removed_and_a_touched_one_kept(lodge):
    student, smtp = lodge.client("student"), lodge.smtp
    kept = student.create_deposit("open-works", {**OPEN_WORK, "title": "Kept draft"})
    removed = student.create_deposit("open-works", {**OPEN_WORK, "title": "Abandoned draft"})
    for deposit in (kept, removed):
        student.upload(deposit["id"], "thesis.pdf", pdf(500))

    def subjects():
        return [m["Subject"] for m in smtp.to("student@example.edu")]

    # both untouched a day past the warning, and made longer ago than their whole time
    for deposit in (kept, removed):
        move_back(lodge, deposit["id"], EXPIRY - NOTICE + DAY, "updated_at")
        move_back(lodge, deposit["id"], EXPIRY + DAY, "created_at")
    poll_until(
        lambda: sum("will be removed on" in s for s in subjects()) >= 2,
        timeout=60,
        description="both warning letters",
    )
    assert any('"Abandoned draft" will be removed on' in s for s in subjects())
    student.patch(
        f"/api/v1/deposits/{kept['id']}", json={"metadata": {**OPEN_WORK, "title": "Kept draft"}}
    ).raise_for_status()  # a change calls it off

    # the abandoned draft's time runs out, and its warning is older than the notice
    move_back(lodge, removed["id"], NOTICE + DAY, "updated_at", "expiry_warned_at")
    gone = poll_until(
        lambda: (d := student.deposit(removed["id"]))["status"] == "withdrawn" and d,
        timeout=60,
        description="the abandoned draft removed",
    )
    assert gone["files"] == [] and staged_files(lodge, removed["id"]) == []
    last = gone["history"][-1]
    assert (last["to_status"], last["reason_code"], last["actor"]["id"]) == (
        "withdrawn",
        "draft_expired",
        "system",
    )
    poll_until(
        lambda: 'Your unfinished deposit "Abandoned draft" was removed' in subjects(),
        timeout=60,
        description="the removal letter",
    )

    # the kept draft's own time, counted from its creation, has passed as well; the timer
    # that removed the other ran after the change
    still = student.deposit(kept["id"])
    assert still["status"] == "draft" and len(still["files"]) == 1
    assert len(staged_files(lodge, kept["id"])) == 1
    letters = expect(student.get(f"/api/v1/deposits/{removed['id']}/letters"), 200)["items"]
    assert [row["letter_type"] for row in letters] == ["draft_expiring", "draft_expired"]
