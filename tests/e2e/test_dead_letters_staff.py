"""Dead letters for admins on a whole Lodge: the REST API and the staff page (in headless
Chromium, at desk and phone widths), replay and drop; nobody else sees them."""

from __future__ import annotations

import json
import uuid

import pytest
from nameko.amqp.publish import Publisher
from playwright.sync_api import expect as see

from kernel.platform.messaging import DEAD_LETTER_EXCHANGE
from lodge.registry import service_class
from lodge.topology import event_queues
from tests.e2e.conftest import screenshot, watched_page
from tests.e2e.test_portal_browser import sign_in
from tests.support.accessibility import horizontal_overflow, sticking_out
from tests.support.system import csrf_token, expect, poll_until, signed_in

API = "/api/v1/staff/dead-letters"


def letters_queue() -> str:
    return event_queues(service_class("letters"))[0].name


def park(lodge_system, body: bytes, reason: str, queue: str = "", **headers) -> None:
    """What a handler publishes when it gives up on a message."""
    Publisher(lodge_system.amqp_uri).publish(
        body,
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key="letters",
        headers={"x-lodge-error": reason, "x-lodge-queue": queue, "x-lodge-attempts": 5, **headers},
        serializer=None,
        content_type="application/json",
        content_encoding="utf-8",
    )


def parked_with(admin, reason: str) -> dict:
    def found():
        page = admin.get(f"{API}/letters", params={"reason": reason})
        items = expect(page, 200)["items"]
        return items[0] if items else None

    return poll_until(found, timeout=20, description=f"a dead letter for {reason!r}")


def test_admins_list_show_replay_and_drop_through_the_api(lodge_system):
    admin = lodge_system.client("admin")
    marker = uuid.uuid4().hex
    park(lodge_system, b'{"not": "an event"}', f"KeyError: {marker}", letters_queue())
    letter = parked_with(admin, marker)
    assert letter["queue"] == letters_queue() and letter["attempts"] == 5
    counts = expect(admin.get(API), 200)["services"]
    assert set(counts) == {"intake", "validation", "approval", "letters", "inventory"}
    assert counts["letters"]["parked"] >= 1
    shown = expect(admin.get(f"{API}/letters/{letter['id']}"), 200)
    assert shown["payload"] == '{"not": "an event"}' and shown["payload_encoding"] == "text"
    # the operator's command asks every service
    command = ("dead-letters", "list", "--reason", marker, "--json")
    listed = json.loads(lodge_system.lodge_command(*command))
    assert [(found["service"], found["id"]) for found in listed] == [("letters", letter["id"])]

    # the replay reaches the handler, which finds the body breaks its contract: parked again
    replayed = expect(admin.post(f"{API}/letters/{letter['id']}/replay"), 200)
    assert replayed["state"] == "replayed" and replayed["replayed_by"] == "admin"
    again = parked_with(admin, "breaks the intake")
    shown_again = expect(admin.get(f"{API}/letters/{again['id']}"), 200)
    assert shown_again["headers"]["x-lodge-replay-of"] == f"letters/{letter['id']}"

    dropped = expect(
        admin.post(f"{API}/letters/{again['id']}/drop", json={"note": "a forged test event"}), 200
    )
    assert (dropped["state"], dropped["dropped_by"]) == ("dropped", "admin")
    refused = expect(admin.post(f"{API}/letters/{again['id']}/replay"), 409)
    assert refused["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("GET", f"{API}/nowhere", None, 404),
        ("GET", f"{API}/letters/99999999999999999999", None, 422),
        ("GET", f"{API}/letters?reason=" + "x" * 301, None, 422),
        ("GET", f"{API}/letters?reason=%E2%80%AE", None, 422),
        ("GET", f"{API}/letters?state=gone", None, 422),
        ("GET", f"{API}/letters?failed_before=soon", None, 422),
        ("GET", f"{API}/letters?failed_before=0001-01-01T00:00:00%2B05:00", None, 422),
        ("GET", f"{API}/letters?failed_after=2020-01-01T00:00:00", None, 200),  # UTC
        ("GET", f"{API}/letters?per_page=1000", None, 422),
        ("GET", f"{API}/letters?surprise=1", None, 422),
        ("POST", f"{API}/letters/1/drop", {"note": ["wrong", "type"]}, 422),
        ("POST", f"{API}/letters/1/drop", {"note": "n" * 3000}, 422),
        ("POST", f"{API}/letters/1/drop", {"note": "bell\u0007"}, 422),
        ("POST", f"{API}/letters/1/drop", {"note": {"a": {"b": {"c": 1}}}}, 422),
        ("POST", f"{API}/letters/1/drop", {"note": "x", "actor": {"roles": ["admin"]}}, 422),
    ],
)
def test_bad_requests_get_the_error_shape(lodge_system, method, path, body, status):
    admin = lodge_system.client("admin")
    answer = expect(admin.request(method, path, json=body), status)
    assert status == 200 or set(answer["error"]) >= {"code", "message"}


def test_nobody_but_admins_sees_dead_letters(lodge_system):
    for username in ("staff", "manager", "approver", "student"):
        caller = lodge_system.client(username)
        assert caller.get(API).status_code == 403
        assert caller.post(f"{API}/letters/1/replay").status_code == 403
        browser_like = signed_in(lodge_system, username)
        home = browser_like.get(f"{lodge_system.base_url}/", timeout=30)
        assert "/staff/dead-letters" not in home.text  # not in the menu
        page = browser_like.get(f"{lodge_system.base_url}/staff/dead-letters", timeout=30)
        assert page.status_code == 403


@pytest.mark.parametrize("width", [1280, 390])
def test_the_staff_page_lists_shows_replays_and_drops(lodge_system, browser, width):
    marker = uuid.uuid4().hex[:12]
    park(
        lodge_system,
        b'{"deposit_id": "<script>alert(1)</script>", "why": "' + marker.encode() + b'"}',
        f"RuntimeError: mail server unreachable {marker}\nTraceback line two",
        letters_queue(),
    )
    park(lodge_system, b"\xff\xfe\x00binary", f"cannot be decoded {marker}")
    admin = lodge_system.client("admin")
    parked_with(admin, f"cannot be decoded {marker}")
    with watched_page(browser, lodge_system.base_url, width=width) as page:
        sign_in(page, "admin")
        if width > 600:
            page.get_by_role("link", name="Dead letters").click()
        else:
            page.goto("/staff/dead-letters")
        see(page.get_by_role("heading", name="Dead letters", exact=True)).to_be_visible()
        page.get_by_role("navigation", name="Services").get_by_role("link", name="letters").click()
        page.get_by_label("Reason contains").fill(marker)
        page.get_by_role("button", name="Find").click()
        see(page.locator("caption")).to_contain_text("2 dead letters")
        screenshot(page, f"dead-letters-{width}")
        assert horizontal_overflow(page) == 0, sticking_out(page)

        page.get_by_role("link", name=f"cannot be decoded {marker}").click()
        see(page.get_by_text("as base64: the bytes are not UTF-8 text")).to_be_visible()
        page.get_by_label("Why drop it").fill("test bytes")
        page.get_by_role("button", name="Drop").click()
        see(page.get_by_text("Dropped; it stays listed under Dropped.")).to_be_visible()
        see(page.get_by_text("test bytes")).to_be_visible()
        see(page.get_by_role("button", name="Replay")).to_have_count(0)

        page.goto(f"/staff/dead-letters?service=letters&reason={marker}")
        page.get_by_role("link", name=f"RuntimeError: mail server unreachable {marker}").click()
        see(page.locator("pre.payload").first).to_contain_text("<script>alert(1)</script>")
        screenshot(page, f"dead-letter-{width}")
        assert horizontal_overflow(page) == 0, sticking_out(page)
        page.get_by_role("button", name="Replay").click()
        see(page.get_by_text("Sent back to its handler.")).to_be_visible()
        see(page.get_by_text("last by admin")).to_be_visible()


def test_the_staff_page_answers_bad_input_with_4xx(lodge_system):
    marker = uuid.uuid4().hex
    park(lodge_system, b"{}", f"ValueError: {marker}", letters_queue())
    letter = parked_with(lodge_system.client("admin"), marker)
    admin = signed_in(lodge_system, "admin")
    base = f"{lodge_system.base_url}/staff/dead-letters"
    for query, status in (
        ({"reason": "x" * 301}, 422),
        ({"page": "abc"}, 422),
        ({"state": "gone"}, 422),
        ({"service": "<script>", "age": "forever"}, 200),  # unknown choices are ignored
    ):
        assert admin.get(base, params=query, timeout=30).status_code == status, query
    detail = f"{base}/letters/{letter['id']}"
    token = csrf_token(admin.get(detail, timeout=30).text)
    for note in ("n" * 3000, "bell\u0007"):
        answer = admin.post(f"{detail}/drop", data={"csrf_token": token, "note": note}, timeout=30)
        assert answer.status_code == 422
    assert admin.post(f"{detail}/drop", data={"note": "no token"}, timeout=30).status_code == 400
    assert admin.get(f"{base}/letters/99999999999", timeout=30).status_code == 422
    assert admin.get(f"{base}/nowhere/1", timeout=30).status_code == 404
