"""The approval workflow over the REST API and the staff pages' permissions, end to end:
the queue, claim/release/assign, decisions with reasons, conflicts, bulk, notes, metadata
edits, letter previews, reason tables and who may do what."""

from __future__ import annotations

import concurrent.futures
import contextlib
import uuid

import pytest
from kombu import Connection, Queue
from nameko.standalone.events import get_event_exchange

from kernel.contracts.approval import QUEUE_COUNT_LIMIT
from tests.e2e.test_lifecycles import (
    API,
    assert_error,
    make_thesis_in_review,
    pdf_bytes,
    statuses,
    thesis_metadata,
    unique_title,
    wait_for_review,
)
from tests.support.system import csrf_token, expect, signed_in


@pytest.fixture(scope="module")
def student(lodge_system):
    return lodge_system.client("student")


@pytest.fixture(scope="module")
def approver(lodge_system):
    return lodge_system.client("approver")


@pytest.fixture(scope="module")
def approver2(lodge_system):
    return lodge_system.client("approver2")


@pytest.fixture(scope="module")
def chemist(lodge_system):
    return lodge_system.client("chemist")


@pytest.fixture(scope="module")
def manager(lodge_system):
    return lodge_system.client("manager")


def in_review(lodge_system, student, approver, what="review api"):
    return make_thesis_in_review(lodge_system, student, approver, what)


def action(client, deposit_id, name, **body):
    return client.post(f"{API}/reviews/{deposit_id}/actions/{name}", json=body)


def test_queue_tabs_count_claims_and_filter(lodge_system, student, approver, approver2):
    first = in_review(lodge_system, student, approver, "queue one")
    second = in_review(lodge_system, student, approver, "queue two")
    expect(action(approver, first["id"], "claim"), 200)
    expect(action(approver2, second["id"], "claim"), 200)
    queue = expect(approver.get(f"{API}/reviews/queue", params={"tab": "mine"}), 200)
    assert first["id"] in [t["deposit_id"] for t in queue["items"]]
    assert second["id"] not in [t["deposit_id"] for t in queue["items"]]
    assert queue["counts"]["mine"] == queue["total"] >= 1
    # the reasons a decision on them may give come with the tasks, as GET /reasons lists them
    assert queue["reasons"] == expect(approver.get(f"{API}/reasons"), 200)["items"]
    others = expect(approver.get(f"{API}/reviews/queue", params={"tab": "others"}), 200)
    assert second["id"] in [t["deposit_id"] for t in others["items"]]
    assert set(queue["counts"]) == {"mine", "unassigned", "others", "all", "overdue"}
    assert queue["counts"]["all"] >= queue["counts"]["mine"] + queue["counts"]["others"]
    none = expect(approver.get(f"{API}/reviews/queue", params={"depositor": "nobody-at-all"}), 200)
    assert none["total"] == 0 and none["items"] == []
    filtered = expect(
        approver.get(
            f"{API}/reviews/queue",
            params={
                "profile_id": "thesis",
                "collection": "theses",
                "sort": "newest",
                "per_page": 100,
            },
        ),
        200,
    )
    assert {first["id"], second["id"]} <= {t["deposit_id"] for t in filtered["items"]}
    # counts are exact below their limit; a full page says whether another follows
    assert queue["count_limit"] == QUEUE_COUNT_LIMIT and queue["total"] < QUEUE_COUNT_LIMIT
    one = expect(approver.get(f"{API}/reviews/queue", params={"per_page": 1}), 200)
    assert one["has_more"] is (one["total"] > 1)
    assert filtered["has_more"] is (filtered["total"] > 100)
    error = assert_error(approver.get(f"{API}/reviews/queue", params={"tab": "everything"}), 422)
    assert "tab" in error["fields"]
    # release goes back to the pool; a stranger's claim cannot be released by an approver
    assert_error(action(approver, second["id"], "release"), 403)
    task = expect(action(approver, first["id"], "release"), 200)
    assert task["state"] == "open" and task["assignee"] is None


@contextlib.contextmanager
def checks_held(lodge_system):
    """Validation hears of no submitted deposit during the block: its queue is unbound and
    what it would have received waits in a queue of the test's, handed over afterwards."""
    exchange = get_event_exchange("intake")
    with Connection(lodge_system.amqp_uri) as connection:
        channel = connection.default_channel
        validation = Queue(
            "evt-intake-deposit_submitted--validation.on_deposit_submitted",
            exchange=exchange,
            routing_key="deposit_submitted",
        ).bind(channel)
        held = Queue(
            f"test-held-{uuid.uuid4().hex}", exchange=exchange, routing_key="deposit_submitted"
        ).bind(channel)
        held.declare()
        validation.unbind_from(exchange, "deposit_submitted")
        try:
            yield
        finally:
            validation.bind_to(exchange, "deposit_submitted")
            while (message := held.get(no_ack=True)) is not None:
                connection.Producer(channel).publish(
                    message.body,
                    exchange="",
                    routing_key=validation.name,
                    serializer=None,
                    headers=message.headers,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                )
            held.delete()


def test_a_deposit_still_being_checked_cannot_be_decided_yet(lodge_system, student, approver):
    title = unique_title("still checking")
    deposit = student.create_deposit("thesis", thesis_metadata(title))
    student.upload(deposit["id"], "thesis.pdf", pdf_bytes(title))
    with checks_held(lodge_system):
        student.submit(deposit["id"])
        assert student.deposit(deposit["id"])["status"] == "submitted"
        error = assert_error(action(approver, deposit["id"], "approve"), 409)
        assert "checks are still running" in error["message"]
        assert error["fields"] == {"status": ["submitted"]}
        assert_error(action(approver, deposit["id"], "claim"), 409)
        bulk = expect(
            approver.post(
                f"{API}/reviews/bulk", json={"deposit_ids": [deposit["id"]], "decision": "approve"}
            ),
            200,
        )
        assert [(r["status"], r["code"]) for r in bulk["results"]] == [(409, "conflict")]
        # a deposit that does not exist is still not found
        assert_error(action(approver, uuid.uuid4().hex, "approve"), 404)
    lodge_system.wait_for_status(student, deposit["id"], "in_review", timeout=60)
    wait_for_review(approver, deposit["id"], revision=1)
    assert expect(action(approver, deposit["id"], "approve"), 200)["state"] == "decided"


def test_two_approvers_approving_at_once_one_wins(lodge_system, student, approver, approver2):
    deposit = in_review(lodge_system, student, approver, "race")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda client: action(client, deposit["id"], "approve", note="Looks good"),
                (approver, approver2),
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert (
        "decided" in loser.json()["error"]["message"]
        or "claimed" in loser.json()["error"]["message"]
    )
    archived = lodge_system.wait_for_status(student, deposit["id"], "archived")
    assert statuses(archived).count("approved") == 1
    # the winner sending the same decision again changes nothing
    winner = approver if answers[0].status_code == 200 else approver2
    again = expect(action(winner, deposit["id"], "approve", note="Looks good"), 200)
    assert again["state"] == "decided"


def test_return_with_a_reason_and_note_reaches_the_depositor(lodge_system, student, approver):
    deposit = in_review(lodge_system, student, approver, "return reason")
    expect(action(approver, deposit["id"], "claim"), 200)
    preview = expect(
        approver.post(
            f"{API}/reviews/{deposit['id']}/letter-preview",
            json={
                "decision": "return",
                "reason_code": "wrong_file",
                "note": "Please upload the PDF/A",
            },
        ),
        200,
    )
    assert preview["letter_type"] == "deposit_returned" and preview["subject"]
    assert "Please upload the PDF/A" in preview["text"]
    assert "Reason: A file is missing or is the wrong version" in preview["text"]
    task = expect(
        action(
            approver,
            deposit["id"],
            "return",
            reason_code="wrong_file",
            note="Please upload the PDF/A",
        ),
        200,
    )
    assert task["decision"]["reason_code"] == "wrong_file"
    returned = lodge_system.wait_for_status(student, deposit["id"], "returned")
    last = returned["history"][-1]
    assert (last["reason_code"], last["note"]) == ("wrong_file", "Please upload the PDF/A")
    assert last["reason_label"] == "A file is missing or is the wrong version"
    assert_error(action(approver, deposit["id"], "decline"), 409)


def test_unknown_reason_and_unknown_action_are_clear_errors(lodge_system, student, approver):
    deposit = in_review(lodge_system, student, approver, "bad reason")
    error = assert_error(action(approver, deposit["id"], "decline", reason_code="bored"), 422)
    assert "reason_code" in error["fields"]
    assert_error(action(approver, deposit["id"], "shrug"), 404)
    assert expect(approver.get(f"{API}/reviews/{deposit['id']}"), 200)["task"]["state"] == "open"


def test_assign_to_a_colleague_and_decline(lodge_system, student, approver, approver2, chemist):
    deposit = in_review(lodge_system, student, approver, "assign")
    colleagues = expect(approver.get(f"{API}/reviews/{deposit['id']}/colleagues"), 200)["items"]
    usernames = {person["username"] for person in colleagues}
    assert {"approver", "approver2", "manager"} <= usernames and "chemist" not in usernames
    error = assert_error(action(approver, deposit["id"], "assign", assignee="chemist"), 422)
    assert "assignee" in error["fields"]
    task = expect(action(approver, deposit["id"], "assign", assignee="approver2"), 200)
    assert task["assignee"]["name"] == "Ari Approver"
    assert_error(action(approver, deposit["id"], "decline"), 409)  # it is Ari's now
    task = expect(action(approver2, deposit["id"], "decline", reason_code="duplicate"), 200)
    declined = lodge_system.wait_for_status(student, deposit["id"], "declined")
    assert declined["history"][-1]["reason_code"] == "duplicate"
    assert declined["history"][-1]["actor"]["name"] == "Ari Approver"


def test_bulk_decision_reports_each_deposit(lodge_system, student, approver, approver2):
    deposits = [in_review(lodge_system, student, approver, f"bulk {n}") for n in range(3)]
    ids = [d["id"] for d in deposits]
    expect(action(approver2, ids[1], "claim"), 200)
    result = expect(
        approver.post(
            f"{API}/reviews/bulk",
            json={"deposit_ids": ids + ["0" * 32], "decision": "approve", "note": "Batch"},
        ),
        200,
    )
    assert [(r["deposit_id"], r["status"]) for r in result["results"]] == [
        (ids[0], 200),
        (ids[1], 409),
        (ids[2], 200),
        ("0" * 32, 404),
    ]
    assert result["decided"] == 2
    for deposit_id in (ids[0], ids[2]):
        lodge_system.wait_for_status(student, deposit_id, "archived")
    assert student.deposit(ids[1])["status"] == "in_review"
    assert_error(
        approver.post(f"{API}/reviews/bulk", json={"deposit_ids": [], "decision": "approve"}), 422
    )


def test_notes_are_for_staff_only(lodge_system, student, approver):
    deposit = in_review(lodge_system, student, approver, "notes")
    secret = "Checked with the supervisor: fine " + deposit["id"][:6]
    note = expect(approver.post(f"{API}/reviews/{deposit['id']}/notes", json={"text": secret}), 201)
    assert note["author"]["name"] == "Alex Approver"
    listed = expect(approver.get(f"{API}/reviews/{deposit['id']}/notes"), 200)["items"]
    assert [n["text"] for n in listed] == [secret]
    assert secret not in student.get(f"{API}/deposits/{deposit['id']}").text
    portal = signed_in(lodge_system, "student")
    page = portal.get(f"{lodge_system.base_url}/deposits/{deposit['id']}")
    assert page.status_code == 200 and secret not in page.text
    assert_error(approver.post(f"{API}/reviews/{deposit['id']}/notes", json={"text": ""}), 422)


def test_approver_edits_metadata_before_approving(lodge_system, student, approver):
    deposit = in_review(lodge_system, student, approver, "edit metadata")
    metadata = dict(deposit["metadata"], title=deposit["title"] + " (corrected)")
    error = assert_error(
        approver.put(
            f"{API}/reviews/{deposit['id']}/metadata",
            json={"metadata": dict(metadata, degree="Wizard")},
        ),
        422,
    )
    assert "degree" in error["fields"]["metadata"]
    edited = expect(
        approver.put(f"{API}/reviews/{deposit['id']}/metadata", json={"metadata": metadata}), 200
    )
    assert edited["title"].endswith("(corrected)")
    change = edited["history"][-1]
    assert (change["from_status"], change["to_status"]) == ("in_review", "in_review")
    assert change["reason_code"] == "metadata_edited_by_approver" and "title" in change["note"]
    assert change["actor"]["name"] == "Alex Approver"
    expect(action(approver, deposit["id"], "approve"), 200)
    archived = lodge_system.wait_for_status(student, deposit["id"], "archived")
    item = expect(student.get(f"{API}/items/{archived['item_id']}"), 200)
    assert "(corrected)" in str(item["record"])


def test_file_preview_is_served_safely(lodge_system, student, approver):
    deposit = in_review(lodge_system, student, approver, "preview")
    file_id = deposit["files"][0]["id"]
    response = approver.get(f"{API}/reviews/{deposit['id']}/files/{file_id}")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert response.headers["Content-Type"] == "application/pdf"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    download = approver.get(
        f"{API}/reviews/{deposit['id']}/files/{file_id}", params={"download": 1}
    )
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_managers_manage_reasons_and_approvers_may_not(lodge_system, manager, approver):
    code = "needs_orcid"
    saved = expect(
        manager.put(f"{API}/reasons/return/{code}", json={"label": "Add your ORCID iD"}), 200
    )
    assert saved == {
        "kind": "return",
        "code": code,
        "label": "Add your ORCID iD",
        "is_default": False,
    }
    assert code in {r["code"] for r in expect(approver.get(f"{API}/reasons"), 200)["items"]}
    assert_error(approver.put(f"{API}/reasons/return/{code}", json={"label": "x"}), 403)
    error = assert_error(manager.put(f"{API}/reasons/return/Bad Code", json={"label": "x"}), 422)
    assert "code" in error["fields"]
    assert_error(manager.delete(f"{API}/reasons/return/metadata_incomplete"), 409)  # the default
    assert manager.delete(f"{API}/reasons/return/{code}").status_code == 204
    assert_error(manager.delete(f"{API}/reasons/return/{code}"), 404)


STAFF_ENDPOINTS = [
    ("get", "/reviews"),
    ("get", "/reviews/queue"),
    ("get", "/reviews/{id}"),
    ("post", "/reviews/{id}/actions/claim"),
    ("post", "/reviews/{id}/actions/release"),
    ("post", "/reviews/{id}/actions/assign"),
    ("post", "/reviews/{id}/actions/approve"),
    ("post", "/reviews/{id}/actions/decline"),
    ("post", "/reviews/{id}/actions/return"),
    ("post", "/reviews/bulk"),
    ("get", "/reviews/{id}/colleagues"),
    ("get", "/reviews/{id}/notes"),
    ("post", "/reviews/{id}/notes"),
    ("put", "/reviews/{id}/metadata"),
    ("post", "/reviews/{id}/letter-preview"),
    ("get", "/reviews/{id}/files/{file}"),
    ("get", "/reasons"),
    ("put", "/reasons/return/x"),
    ("delete", "/reasons/return/x"),
]
STAFF_PAGES = [
    "/staff/queue",
    "/staff/reviews/{id}",
    "/staff/reviews/{id}/files/{file}",
    "/staff/reasons",
]
STAFF_FORMS = [
    "/staff/queue/bulk",
    "/staff/reviews/{id}/task",
    "/staff/reviews/{id}/notes",
    "/staff/reviews/{id}/metadata",
    "/staff/reviews/{id}/decision",
    "/staff/reasons",
]


def test_patrons_get_403_on_every_staff_endpoint_and_page(lodge_system, student, approver):
    deposit = in_review(lodge_system, student, approver, "patron 403")
    names = {"id": deposit["id"], "file": deposit["files"][0]["id"]}
    for method, path in STAFF_ENDPOINTS:
        response = getattr(student, method)(API + path.format(**names), json={})
        assert response.status_code == 403, (method, path, response.status_code)
    browser = signed_in(lodge_system, "student")
    token = __import__("tests.support.system", fromlist=["csrf_token"]).csrf_token(
        browser.get(f"{lodge_system.base_url}/").text
    )
    for path in STAFF_PAGES:
        assert browser.get(lodge_system.base_url + path.format(**names)).status_code == 403, path
    for path in STAFF_FORMS:
        response = browser.post(
            lodge_system.base_url + path.format(**names),
            data={"csrf_token": token, "decision": "approve"},
        )
        assert response.status_code == 403, path
    assert student.deposit(deposit["id"])["status"] == "in_review"


def test_approvers_outside_the_profiles_groups_get_403(lodge_system, student, approver, chemist):
    deposit = in_review(lodge_system, student, approver, "outsider")
    queue = expect(chemist.get(f"{API}/reviews/queue", params={"per_page": 100}), 200)
    assert deposit["id"] not in [t["deposit_id"] for t in queue["items"]]
    for name in ("claim", "approve", "decline", "return"):
        assert_error(action(chemist, deposit["id"], name), 403)
    assert_error(chemist.get(f"{API}/reviews/{deposit['id']}"), 403)
    assert_error(chemist.post(f"{API}/reviews/{deposit['id']}/notes", json={"text": "hi"}), 403)
    result = expect(
        chemist.post(
            f"{API}/reviews/bulk", json={"deposit_ids": [deposit["id"]], "decision": "approve"}
        ),
        200,
    )
    assert result["results"][0]["status"] == 403
    assert student.deposit(deposit["id"])["status"] == "in_review"


def test_nobody_decides_on_their_own_deposit(lodge_system, student, approver, approver2):
    """approver2 deposits a thesis in their own approver group: they see it in the queue
    as their own, and every action on it is 403 (in bulk, for that deposit only); a
    colleague decides as usual."""
    own = make_thesis_in_review(lodge_system, approver2, approver, "own deposit")
    theirs = in_review(lodge_system, student, approver, "not their own")
    wait_for_review(approver2, own["id"], revision=1)
    queue = expect(
        approver2.get(f"{API}/reviews/queue", params={"per_page": 100, "sort": "newest"}), 200
    )
    flags = {t["deposit_id"]: t["own_deposit"] for t in queue["items"]}
    assert flags[own["id"]] is True and flags[theirs["id"]] is False
    for name in ("claim", "approve", "decline", "return"):
        error = assert_error(action(approver2, own["id"], name), 403, "forbidden")
        assert error["message"] == (
            "This is your own deposit: a colleague must review and decide on it."
        )
        assert error["fields"] == {"deposit_id": ["is your own deposit"]}
    assert_error(action(approver2, own["id"], "assign", assignee="approver"), 403)
    assert_error(
        approver2.put(f"{API}/reviews/{own['id']}/metadata", json={"metadata": own["metadata"]}),
        403,
    )
    assert_error(approver2.post(f"{API}/reviews/{own['id']}/notes", json={"text": "Fine"}), 403)
    # a colleague may not hand it to them either
    assert_error(action(approver, own["id"], "assign", assignee="approver2"), 422)
    detail = expect(approver2.get(f"{API}/reviews/{own['id']}"), 200)
    assert detail["may_decide"] is False and detail["task"]["own_deposit"] is True
    result = expect(
        approver2.post(
            f"{API}/reviews/bulk",
            json={"deposit_ids": [own["id"], theirs["id"]], "decision": "approve"},
        ),
        200,
    )
    assert [(r["deposit_id"], r["status"]) for r in result["results"]] == [
        (own["id"], 403),
        (theirs["id"], 200),
    ]
    lodge_system.wait_for_status(student, theirs["id"], "archived")
    assert approver.deposit(own["id"])["status"] == "in_review"
    # the staff pages: no decision, not even its letter preview
    browser = signed_in(lodge_system, "approver2")
    page = browser.get(f"{lodge_system.base_url}/staff/reviews/{own['id']}")
    assert page.status_code == 200 and "your own deposit" in page.text
    assert 'value="claim"' not in page.text and 'name="decision"' not in page.text
    token = csrf_token(page.text)
    for path, data in (("decision", {"decision": "approve"}), ("task", {"action": "claim"})):
        response = browser.post(
            f"{lodge_system.base_url}/staff/reviews/{own['id']}/{path}",
            data={"csrf_token": token, **data},
            allow_redirects=False,
        )
        assert response.status_code == 403, (path, response.status_code)
    expect(action(approver, own["id"], "approve"), 200)
    lodge_system.wait_for_status(approver2, own["id"], "archived")


def test_resubmission_shows_changes_since_the_return(lodge_system, student, approver):
    deposit = in_review(lodge_system, student, approver, "resubmit")
    expect(action(approver, deposit["id"], "return", reason_code="metadata_incomplete"), 200)
    lodge_system.wait_for_status(student, deposit["id"], "returned")
    expect(
        student.patch(
            f"{API}/deposits/{deposit['id']}",
            json={
                "metadata": dict(deposit["metadata"], abstract="A much better abstract, as asked.")
            },
        ),
        200,
    )
    student.upload(deposit["id"], "appendix.pdf", pdf_bytes(unique_title("appendix")))
    student.submit(deposit["id"])
    wait_for_review(approver, deposit["id"], revision=2)
    changes = expect(approver.get(f"{API}/reviews/{deposit['id']}"), 200)["changes"]
    assert changes["from_revision"] == 1 and changes["to_revision"] == 2
    assert [c["field"] for c in changes["metadata"]] == ["abstract"]
    assert changes["files_added"] == ["appendix.pdf"]


def test_turnaround_target_gives_a_due_date_and_the_depositor_an_expected_date(
    lodge_system, student, approver, manager
):
    from services.intake.seed import DEMO_PROFILES

    profile_id = "thesis-" + unique_title("x").split()[-1]
    definition = {
        **DEMO_PROFILES["thesis"],
        "name": f"Thesis with target {profile_id}",
        "approval": {"mode": "manual", "approver_groups": ["approvers"], "turnaround_days": 5},
    }
    expect(manager.post(f"{API}/profiles", json={"id": profile_id, **definition}), 201)
    error = assert_error(
        manager.put(
            f"{API}/profiles/{profile_id}",
            json={**definition, "approval": {"mode": "manual", "turnaround_days": 0}},
        ),
        422,
    )
    assert "turnaround_days" in str(error["fields"])
    title = unique_title("turnaround")
    deposit = student.create_deposit(profile_id, thesis_metadata(title))
    student.upload(deposit["id"], "thesis.pdf", pdf_bytes(title))
    student.submit(deposit["id"])
    deposit = lodge_system.wait_for_status(student, deposit["id"], "in_review")
    task = wait_for_review(approver, deposit["id"])
    queued = expect(approver.get(f"{API}/reviews/queue", params={"profile_id": profile_id}), 200)[
        "items"
    ]
    assert [t["deposit_id"] for t in queued] == [deposit["id"]]
    due = queued[0]["due_at"][:10]
    assert queued[0]["overdue"] is False and task["deposit_id"] == deposit["id"]
    page = (
        signed_in(lodge_system, "student")
        .get(f"{lodge_system.base_url}/deposits/{deposit['id']}")
        .text
    )
    assert f"Expected decision by {due}" in page
