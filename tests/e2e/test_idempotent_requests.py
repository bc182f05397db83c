"""POSTs with an Idempotency-Key over real HTTP: a request sent again gets the first answer."""
from __future__ import annotations

import uuid

from tests.e2e.test_lifecycles import API, assert_error, thesis_metadata, unique_title
from tests.support.system import expect


def create(client, key: str, title: str):
    return client.post(f"{API}/deposits", headers={"Idempotency-Key": key},
                       json={"profile_id": "thesis", "metadata": thesis_metadata(title)})


def titles_of(client) -> list[str]:
    titles, page = [], 1
    while True:
        items = expect(client.get(f"{API}/deposits", params={"page": page, "per_page": 100}),
                       200)["items"]
        if not items:
            return titles
        titles += [item["title"] for item in items]
        page += 1


def test_the_same_key_and_body_get_the_first_answer_and_make_one_deposit(lodge_system):
    student = lodge_system.client("student")
    key, title = uuid.uuid4().hex, unique_title("idempotent")
    first = create(student, key, title)
    again = create(student, key, title)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert titles_of(student).count(title) == 1


def test_the_same_key_with_another_body_is_refused(lodge_system):
    student = lodge_system.client("student")
    key = uuid.uuid4().hex
    expect(create(student, key, unique_title("first body")), 201)
    error = assert_error(create(student, key, unique_title("second body")), 422)
    assert "Idempotency-Key" in error["fields"]
    # a key is a caller's own: another patron's same key is another request
    expect(create(lodge_system.client("chemist"), key, unique_title("other caller")), 201)


def test_a_refused_request_leaves_its_key_free(lodge_system):
    student = lodge_system.client("student")
    key = uuid.uuid4().hex
    refused = student.post(f"{API}/deposits", headers={"Idempotency-Key": key},
                           json={"profile_id": "thesis", "metadata": {"hue": "red"}})
    assert_error(refused, 422)
    expect(create(student, key, unique_title("after a refusal")), 201)


def test_bad_keys_get_the_error_shape(lodge_system):
    student = lodge_system.client("student")
    for key in ("x" * 256, "two words", "caf\u00e9".encode().decode("latin-1"), ""):
        error = assert_error(create(student, key, unique_title("bad key")), 422)
        assert error["fields"] == {"Idempotency-Key": ["1 to 255 visible ASCII characters"]}
