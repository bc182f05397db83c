"""POSTs with an Idempotency-Key over real HTTP: a request sent again gets the first answer."""

from __future__ import annotations

import uuid

import sqlalchemy

from tests.e2e.test_lifecycles import API, assert_error, thesis_metadata, unique_title
from tests.support.system import expect


def create(client, key: str, title: str):
    return client.post(
        f"{API}/deposits",
        headers={"Idempotency-Key": key},
        json={"profile_id": "thesis", "metadata": thesis_metadata(title)},
    )


def titles_of(client) -> list[str]:
    titles, page = [], 1
    while True:
        items = expect(client.get(f"{API}/deposits", params={"page": page, "per_page": 100}), 200)[
            "items"
        ]
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
    refused = student.post(
        f"{API}/deposits",
        headers={"Idempotency-Key": key},
        json={"profile_id": "thesis", "metadata": {"hue": "red"}},
    )
    assert_error(refused, 422)
    expect(create(student, key, unique_title("after a refusal")), 201)


def test_bad_keys_get_the_error_shape(lodge_system):
    student = lodge_system.client("student")
    # (other control characters in a header never reach the app: gunicorn refuses them)
    for key in ("x" * 256, "two words", "tab\there", "caf\u00e9".encode().decode("latin-1"), ""):
        error = assert_error(create(student, key, unique_title("bad key")), 422)
        assert error["fields"] == {"Idempotency-Key": ["1 to 255 visible ASCII characters"]}


def test_a_key_whose_first_request_still_runs_is_a_conflict(lodge_system):
    """A second request with the key while the first is still running (its row holds no
    answer yet) is told so, and nothing is done twice."""
    student = lodge_system.client("student")
    made = expect(create(student, uuid.uuid4().hex, unique_title("whose id")), 201)
    depositor_id = made["depositor"]["id"]
    key, title = uuid.uuid4().hex, unique_title("still running")
    engine = sqlalchemy.create_engine(lodge_system.database_urls["gateway"])
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO idempotent_requests (caller_id, key, fingerprint, created_at) "
                "VALUES (:caller, :key, 'running', now())"
            ),
            {"caller": depositor_id, "key": key},
        )
    engine.dispose()
    error = assert_error(create(student, key, title), 409)
    assert error["fields"] == {"Idempotency-Key": ["still running"]}
    assert title not in titles_of(student)
