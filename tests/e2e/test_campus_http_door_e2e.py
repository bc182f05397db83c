"""Campus systems' requests over HTTP, end to end: a system a manager registered (its token
and webhook secret made over the staff API) sends deposit requests to
`POST /api/v1/campus/events`, structured and in binary mode, by token and signed; the
deposit is made in the system's mode, the answer is the reply CloudEvent, the same request
again makes nothing new, and what the body says about its sender counts for nothing."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from gateway.campus.webhooks import signature_header
from tests.support.campus import PDF, THESIS, event, inline_file
from tests.support.system import expect

DOOR = "/api/v1/campus/events"
STRUCTURED = "application/cloudevents+json"


@pytest.fixture(scope="module")
def door_system(lodge_system):
    """A system registered by a manager: theses mediated, open works as drafts."""
    manager = lodge_system.client("manager")
    name = f"door-{uuid.uuid4().hex[:8]}"
    made = expect(
        manager.post(
            "/api/v1/staff/systems",
            json={
                "name": name,
                "label": "Thesis portal",
                "profiles": [
                    {"profile_id": "thesis", "mode": "mediated"},
                    {"profile_id": "open-works", "mode": "draft"},
                ],
            },
        ),
        201,
    )
    one = f"/api/v1/staff/systems/{made['id']}"
    token = expect(manager.post(f"{one}/tokens", json={"days": 1}), 201)["token"]
    secret = expect(manager.post(f"{one}/webhook-secret"), 201)["secret"]
    return {"name": name, "token": token, "secret": secret}


def thesis_request(title: str, **data) -> dict:
    return event(
        {
            "depositor": {"username": "student"},
            "profile_id": "thesis",
            "metadata": {**THESIS, "title": title},
            "accept_terms": True,
            "files": [inline_file("thesis.pdf", PDF)],
            "submit": True,
            **data,
        }
    )


def send(lodge_system, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{lodge_system.base_url}{DOOR}", data=body, headers=headers, timeout=60)


def by_token(system, content_type=STRUCTURED, **extra) -> dict:
    return {"Authorization": f"Bearer {system['token']}", "Content-Type": content_type, **extra}


def signed(system, body: bytes) -> dict:
    return {
        "Content-Type": STRUCTURED,
        "X-Lodge-System": system["name"],
        "X-Lodge-Signature": signature_header(system["secret"], int(time.time()), body),
    }


def test_a_signed_request_is_deposited_for_the_patron_and_answered_once(lodge_system, door_system):
    title = f"Marsh {uuid.uuid4().hex}"
    # what the body says of its sender is ignored: the signature says who it is
    request = {**thesis_request(title), "lodgesystem": "someone-else"}
    body = json.dumps(request).encode()
    first = send(lodge_system, body, signed(door_system, body))
    assert first.status_code == 201, first.text
    assert first.headers["Content-Type"].startswith(STRUCTURED)
    reply = first.json()
    assert reply["type"] == "org.lodge.campus.request.accepted.v1"
    assert reply["lodgesystem"] == door_system["name"] and reply["lodgerequestid"] == request["id"]
    deposit_id = reply["data"]["deposit_id"]
    student = lodge_system.client("student")
    archived = lodge_system.wait_for_status(student, deposit_id, "archived", timeout=90)
    assert archived["origin"] == {
        "system": door_system["name"],
        "source": request["source"],
        "event_id": request["id"],
        "mode": "mediated",
    }
    assert archived["mediated_by"]["name"] == "Thesis portal"
    decided = [h for h in archived["history"] if h["to_status"] == "approved"]
    assert decided[0]["reason_code"] == "system_mediated"

    # the same request again, by token now: the same answer, marked duplicate, nothing new
    again = send(lodge_system, body, by_token(door_system))
    assert again.status_code == 200
    assert again.json()["data"]["duplicate"] is True
    assert again.json()["data"]["deposit_id"] == deposit_id
    mine = expect(student.get("/api/v1/deposits", params={"per_page": 100}), 200)["items"]
    assert [d["id"] for d in mine if d["title"] == title] == [deposit_id]


def test_binary_mode_makes_a_draft_the_patron_submits(lodge_system, door_system):
    data = {
        "depositor": {"email": "student@example.edu"},
        "profile_id": "open-works",
        "metadata": {"title": f"Draft {uuid.uuid4().hex}"},
    }
    headers = by_token(
        door_system,
        "application/json",
        **{
            "ce-specversion": "1.0",
            "ce-id": uuid.uuid4().hex,
            "ce-source": "https%3A%2F%2Fportal.example.edu",
            "ce-type": "org.lodge.campus.deposit.requested.v1",
        },
    )
    answer = send(lodge_system, json.dumps(data).encode(), headers)
    assert answer.status_code == 201, answer.text
    deposit = expect(
        lodge_system.client("student").get(
            f"/api/v1/deposits/{answer.json()['data']['deposit_id']}"
        ),
        200,
    )
    assert deposit["status"] == "draft" and deposit["mediated_by"] is None
    assert deposit["origin"]["source"] == "https://portal.example.edu"
    assert "submit" in deposit["allowed_actions"]


def test_refusals_have_the_rest_apis_status_and_shape(lodge_system, door_system):
    for data, status, field in (
        # a profile it is not registered for
        ({**thesis_request("x")["data"], "profile_id": "no-such"}, 403, "profile_id"),
        # draft mode: the patron submits
        (
            {
                "depositor": {"username": "student"},
                "profile_id": "open-works",
                "metadata": {"title": "x"},
                "submit": True,
            },
            422,
            "submit",
        ),
        ({"depositor": {"username": "nobody-here"}, "profile_id": "thesis"}, 422, "depositor"),
        ({"profile_id": "thesis", "surprise": 1}, 422, "depositor"),
    ):
        body = json.dumps(event(data)).encode()
        answer = send(lodge_system, body, signed(door_system, body))
        assert answer.status_code == status, (data, answer.text)
        assert field in json.dumps(answer.json()["error"]["fields"]), answer.json()
