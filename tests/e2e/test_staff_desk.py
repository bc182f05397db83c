"""The staff desk over HTTP: deposits on a patron's behalf, finding patrons, every deposit,
the dashboard's figures, and who may use them."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.intake.seed import COMMON_FIELDS
from tests.e2e.test_lifecycles import letter_subject, letters_to
from tests.support.system import csrf_token, expect, poll_until, signed_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def unique(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:8]}"


def thesis(title: str) -> dict:
    return {
        "title": title,
        "creators": [{"name": "Sam Student"}],
        "abstract": "Mosses.",
        "date": "2026-05",
        "degree": "Master",
    }


@pytest.fixture(scope="module")
def staff(lodge_system):
    return lodge_system.client("staff")


@pytest.fixture(scope="module")
def approver(lodge_system):
    return lodge_system.client("approver")


@pytest.fixture(scope="module")
def student(lodge_system):
    return lodge_system.client("student")


def user_id(client, username: str) -> str:
    found = expect(client.get("/api/v1/staff/patrons", params={"q": username}), 200)["items"]
    return next(person["id"] for person in found if person["username"] == username)


def test_a_mediated_deposit_is_archived_without_approval_and_the_patron_gets_letters(
    lodge_system, staff, student
):
    title = unique("Mediated moss")
    deposit = staff.create_deposit("thesis", thesis(title), on_behalf_of="student@example.edu")
    assert deposit["depositor"]["name"] == "Sam Student"
    assert deposit["mediated_by"]["name"] == "Robin Staff"
    assert deposit["allowed_actions"] == ["edit", "submit", "withdraw"]
    staff.upload(deposit["id"], "moss.pdf", PDF)
    staff.submit(deposit["id"])
    archived = lodge_system.wait_for_status(staff, deposit["id"], "archived")
    steps = [(h["to_status"], h["reason_code"]) for h in archived["history"]]
    assert steps == [
        ("draft", None),
        ("submitted", None),
        ("in_review", None),
        ("approved", "staff_mediated"),
        ("archived", None),
    ]
    assert archived["history"][0]["actor"]["name"] == "Robin Staff"
    # the patron has it, with an item, and was told about it
    mine = expect(student.get(f"/api/v1/deposits/{deposit['id']}"), 200)
    assert mine["status"] == "archived" and mine["item_id"]
    expected = letter_subject("deposit_archived", title=title)
    poll_until(
        lambda: (
            expected
            in [m["Subject"] for m in letters_to(lodge_system.mail_dir, "student@example.edu")]
        ),
        timeout=30,
        description="the archived letter to the student",
    )
    # the dashboard lists it with who made it, in the API and on the page
    mediated = expect(staff.get("/api/v1/staff/statistics", params={"weeks": 4}), 200)["mediated"]
    [listed] = [m for m in mediated["items"] if m["deposit_id"] == deposit["id"]]
    assert (
        listed["title"],
        listed["depositor"]["name"],
        listed["mediated_by"]["name"],
        listed["status"],
    ) == (title, "Sam Student", "Robin Staff", "archived")
    page = signed_in(lodge_system, "approver").get(
        f"{lodge_system.base_url}/staff/dashboard?weeks=4", timeout=30
    )
    row = next(line for line in page.text.split("<tr>") if title in line)
    assert 'class="mediator">Robin Staff<' in row and "Sam Student" in row


def test_only_staff_deposit_for_someone_else(lodge_system, approver, student):
    for client in (approver, student):
        refused = client.post(
            "/api/v1/deposits",
            json={"profile_id": "open-works", "metadata": {}, "on_behalf_of": "faculty"},
        )
        assert expect(refused, 403)["error"]["fields"] == {"on_behalf_of": ["needs the staff role"]}
    unknown = lodge_system.client("staff").post(
        "/api/v1/deposits",
        json={"profile_id": "open-works", "metadata": {}, "on_behalf_of": "nobody-at-all"},
    )
    assert expect(unknown, 422)["error"]["fields"] == {"on_behalf_of": ["unknown user"]}
    myself = lodge_system.client("staff").post(
        "/api/v1/deposits",
        json={"profile_id": "open-works", "metadata": {}, "on_behalf_of": "staff"},
    )
    assert expect(myself, 422)["error"]["fields"] == {"on_behalf_of": ["is yourself"]}


def test_staff_find_patrons_by_name_email_username_or_id(staff, approver, student):
    by_name = expect(staff.get("/api/v1/staff/patrons", params={"q": "sam stu"}), 200)["items"]
    assert [p["username"] for p in by_name] == ["student"]
    assert set(by_name[0]) == {"id", "username", "name", "email", "groups"}
    by_email = expect(staff.get("/api/v1/staff/patrons", params={"q": "@EXAMPLE.edu"}), 200)
    assert {p["username"] for p in by_email["items"]} >= {"student", "faculty", "approver"}
    limited = expect(staff.get("/api/v1/staff/patrons", params={"q": "example", "limit": 2}), 200)
    assert len(limited["items"]) == 2
    by_id = expect(staff.get("/api/v1/staff/patrons", params={"q": by_name[0]["id"]}), 200)
    assert [p["username"] for p in by_id["items"]] == ["student"]
    assert expect(staff.get("/api/v1/staff/patrons", params={"q": "%"}), 200)["items"] == []
    bad = expect(staff.get("/api/v1/staff/patrons", params={"limit": 500}), 422)["error"]
    assert set(bad["fields"]) == {"q", "limit"}
    for client in (approver, student):
        expect(client.get("/api/v1/staff/patrons", params={"q": "sam"}), 403)


def test_staff_list_every_deposit_by_status_title_or_depositor(
    staff, approver, student, lodge_system
):
    faculty = lodge_system.client("faculty")
    word = uuid.uuid4().hex[:8]
    mine = student.create_deposit("open-works", {"title": f"Lichen {word}"})
    theirs = faculty.create_deposit("open-works", {"title": f"Granite {word}"})
    for client in (staff, approver):
        page = expect(client.get("/api/v1/staff/deposits", params={"q": word}), 200)
        assert {d["id"] for d in page["items"]} == {mine["id"], theirs["id"]}
    lichen = expect(approver.get("/api/v1/staff/deposits", params={"q": f"lichen {word}"}), 200)
    assert [d["id"] for d in lichen["items"]] == [mine["id"]]
    # words also match depositors' names and e-mail addresses
    by_person = expect(
        approver.get(
            "/api/v1/staff/deposits",
            params={"q": "fran faculty", "status": "draft", "per_page": 100},
        ),
        200,
    )
    assert theirs["id"] in {d["id"] for d in by_person["items"]}
    assert all(d["depositor"]["name"] == "Fran Faculty" for d in by_person["items"])
    drafts = expect(
        approver.get("/api/v1/staff/deposits", params={"status": "archived", "q": word}), 200
    )
    assert drafts["total"] == 0
    expect(approver.get("/api/v1/staff/deposits", params={"status": "lost"}), 422)
    expect(student.get("/api/v1/staff/deposits"), 403)


def test_statistics_count_new_work_for_staff_only(staff, approver, student, lodge_system):
    before = expect(approver.get("/api/v1/staff/statistics", params={"weeks": 4}), 200)
    assert len(before["weeks"]) == 4
    assert date.fromisoformat(before["weeks"][-1]["week"]).weekday() == 0
    deposit = student.create_deposit("thesis", thesis(unique("Counted")))
    student.upload(deposit["id"], "counted.pdf", PDF)
    student.submit(deposit["id"])
    lodge_system.wait_for_status(student, deposit["id"], "in_review")
    expect(approver.post(f"/api/v1/reviews/{deposit['id']}/actions/approve", json={}), 200)
    lodge_system.wait_for_status(student, deposit["id"], "archived")
    after = expect(staff.get("/api/v1/staff/statistics", params={"weeks": 4}), 200)
    assert after["total"] == before["total"] + 1
    assert after["weeks"][-1]["submitted"] == before["weeks"][-1]["submitted"] + 1
    assert after["weeks"][-1]["approved"] == before["weeks"][-1]["approved"] + 1
    thesis_turnaround = next(t for t in after["turnaround"] if t["profile_id"] == "thesis")
    assert thesis_turnaround["decisions"] >= 1 and thesis_turnaround["median_seconds"] > 0
    expect(student.get("/api/v1/staff/statistics"), 403)
    expect(approver.get("/api/v1/staff/statistics", params={"weeks": 0}), 422)


def test_staff_pages_refuse_those_without_the_role(lodge_system):
    student, approver = signed_in(lodge_system, "student"), signed_in(lodge_system, "approver")
    base = lodge_system.base_url
    for path in ("/staff/dashboard", "/staff/deposits", "/staff/mediated"):
        assert student.get(base + path, timeout=30).status_code == 403
    assert approver.get(base + "/staff/mediated", timeout=30).status_code == 403
    token = csrf_token(approver.get(base + "/", timeout=30).text)
    posted = approver.post(
        base + "/staff/mediated",
        timeout=30,
        data={"csrf_token": token, "patron_id": "x", "profile_id": "open-works"},
    )
    assert posted.status_code == 403
    for path in ("/staff/dashboard", "/staff/deposits"):
        assert approver.get(base + path, timeout=30).status_code == 200
    anonymous = lodge_system.client().get("/staff/mediated", allow_redirects=False)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_mediated_form_without_javascript_finds_the_patron_and_says_what_is_missing(
    lodge_system, staff
):
    browser = signed_in(lodge_system, "staff")
    base = lodge_system.base_url
    found = browser.get(base + "/staff/mediated", params={"q": "fran"}, timeout=30)
    assert found.status_code == 200 and "Fran Faculty" in found.text
    token = csrf_token(found.text)
    missing = browser.post(
        base + "/staff/mediated", timeout=30, data={"csrf_token": token, "q": "fran"}
    )
    assert missing.status_code == 422
    assert "Choose the patron you are depositing for." in missing.text
    assert "Choose a profile." in missing.text
    faculty_id = user_id(staff, "faculty")
    started = browser.post(
        base + "/staff/mediated",
        timeout=30,
        allow_redirects=False,
        data={"csrf_token": token, "patron_id": faculty_id, "profile_id": "open-works"},
    )
    assert started.status_code == 302 and started.headers["Location"].endswith("/edit")
    deposit_id = started.headers["Location"].split("/")[-2]
    deposit = staff.deposit(deposit_id)
    assert deposit["depositor"]["name"] == "Fran Faculty"
    # the creator is the patron and the date is today, in the profile's own fields
    creators = next(f["key"] for f in COMMON_FIELDS if f.get("dc") == "creator")
    assert deposit["metadata"][creators] == [{"name": "Fran Faculty"}]
    assert deposit["metadata"]["date"] == date.today().isoformat()
    # a profile that does not name staff among its mediators, sent by hand: refused, no deposit
    manager = lodge_system.client("manager")
    closed = f"closed-{uuid.uuid4().hex[:8]}"
    expect(
        manager.post(
            "/api/v1/profiles",
            json={
                "id": closed,
                "name": closed,
                "active": False,
                "target_collection": "open-works",
                "fields": COMMON_FIELDS,
                "approval": {"mode": "manual"},
            },
        ),
        201,
    )
    before = expect(staff.get("/api/v1/staff/deposits", params={"per_page": 1}), 200)["total"]
    for forged in (closed, "no-such-profile", "x" * 5000, "thesis\x00"):
        refused = browser.post(
            base + "/staff/mediated",
            timeout=30,
            allow_redirects=False,
            data={"csrf_token": token, "patron_id": faculty_id, "profile_id": forged},
        )
        assert refused.status_code == 422, forged
        # the page says so; a NUL is refused before it, by the gateway, naming the field
        assert "Choose a profile." in refused.text or (
            expect(refused, 422)["error"]["fields"]
            == {"profile_id": ["contains a character XML cannot carry (U+0000)"]}
        )
    assert (
        expect(staff.get("/api/v1/staff/deposits", params={"per_page": 1}), 200)["total"] == before
    )
