"""Hostile text and malformed bodies over real HTTP on a running Lodge: every one answers a
4xx in the error shape {"error": {code, message, fields}} naming what is wrong, never a 500,
and nothing is stored."""

from __future__ import annotations

import json
import time

import pytest
import requests

from kernel.policy.text import LIMITS
from tests.support.system import expect

OPEN_WORK = {
    "title": "Tidal patterns",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Tides.",
    "date": "2026",
}


def refused(response, status: int = 422) -> dict:
    body = expect(response, status)
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def raw_post(client, path: str, body: bytes, **headers):
    return client.post(path, data=body, headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("depth", [900, 10_000])
def test_json_nested_past_the_limit_is_refused_before_it_is_parsed(lodge_system, depth):
    client = lodge_system.client("student")
    body = b'{"profile_id": "open-works", "metadata": ' + b"[" * depth + b"]" * depth + b"}"
    error = refused(raw_post(client, "/api/v1/deposits", body))
    assert "nests deeper" in error["fields"]["body"][0]


def test_a_chunked_body_larger_than_a_json_body_may_be_answers_413(lodge_system):
    client = lodge_system.client("student")

    def chunks():  # no Content-Length: the server learns the size only by reading
        yield b'{"profile_id": "open-works", "metadata": {"title": "'
        for _ in range(50):
            yield b"a" * (1024 * 1024)
        yield b'"}}'

    try:
        response = raw_post(client, "/api/v1/deposits", chunks())
    except requests.ConnectionError:
        pytest.fail("the gateway dropped the connection instead of answering 413")
    refused(response, 413)


@pytest.mark.parametrize(
    "title, problem",
    [
        ("x" * (LIMITS["title"] + 1), f"at most {LIMITS['title']} characters"),
        ("Tides\x0b of the sea", "U+000B"),
        ("Tides \u202eaes eht fo", "bidirectional override (U+202E)"),
    ],
)
def test_a_title_the_columns_or_xml_cannot_hold_is_refused_naming_the_field(
    lodge_system, title, problem
):
    client = lodge_system.client("student")
    before = len(expect(client.get("/api/v1/deposits"), 200)["items"])
    error = refused(
        client.post(
            "/api/v1/deposits",
            json={"profile_id": "open-works", "metadata": {**OPEN_WORK, "title": title}},
        )
    )
    assert problem in json.dumps(error["fields"], ensure_ascii=False)
    assert len(expect(client.get("/api/v1/deposits"), 200)["items"]) == before


def test_a_lone_surrogate_is_refused_not_a_500(lodge_system):
    client = lodge_system.client("student")
    body = b'{"profile_id": "open-works", "metadata": {"title": "Tides \\ud800"}}'
    error = refused(raw_post(client, "/api/v1/deposits", body))
    assert error["fields"] == {"metadata.title": ["contains a lone surrogate"]}


def test_a_long_name_of_spaces_is_refused_at_once(lodge_system):
    client = lodge_system.client("student")
    name = "A" + " " * 40000 + "B"
    started = time.monotonic()
    error = refused(
        client.post(
            "/api/v1/deposits",
            json={
                "profile_id": "open-works",
                "metadata": {**OPEN_WORK, "creators": [{"name": name}]},
            },
        )
    )
    assert time.monotonic() - started < 10  # the quadratic pattern took far longer
    assert error["fields"]["metadata"]["creators"] == [
        f"value 1 has a name that must be at most {LIMITS['name']} characters"
    ]


def test_text_is_kept_in_nfc(lodge_system):
    client = lodge_system.client("student")
    deposit = client.create_deposit("open-works", {**OPEN_WORK, "title": "Cafe\u0301 du port"})
    assert deposit["title"] == "Caf\u00e9 du port"
    assert deposit["metadata"]["title"] == "Caf\u00e9 du port"
