"""POSTs with an Idempotency-Key over real HTTP: a request sent again gets the first answer,
and deposits made while the broker drops the gateway's connections each exist once."""
from __future__ import annotations

import threading
import time
import uuid

from gateway.rpc import CONNECTION_NAME
from tests.e2e.test_lifecycles import API, assert_error, thesis_metadata, unique_title
from tests.support.system import close_broker_connections, expect


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


def test_deposits_made_while_the_broker_drops_the_gateway_each_exist_once(lodge_system):
    """The broker keeps closing the gateway's connections while a client makes deposits,
    sending each again with its key whenever Lodge answers 503: never a 500, none twice."""
    student = lodge_system.client("student")
    stop, closed, answers = threading.Event(), [], []

    def drop_connections():
        while not stop.is_set():
            closed.append(close_broker_connections(lodge_system.vhost, CONNECTION_NAME,
                                                   "test: the broker drops the gateway"))
            stop.wait(0.05)

    dropper = threading.Thread(target=drop_connections)
    dropper.start()
    titles, deadline = [], time.monotonic() + 120
    try:
        while sum(closed) < 6 and time.monotonic() < deadline:
            titles.append(unique_title("broker drops"))
            key = uuid.uuid4().hex
            for _ in range(5):
                answers.append(create(student, key, titles[-1]).status_code)
                if answers[-1] != 503:
                    break
    finally:
        stop.set()
        dropper.join()
    assert sum(closed) >= 6, closed
    assert set(answers) <= {201, 503} and answers.count(201) == len(titles), answers
    made = [title for title in titles_of(student) if title in set(titles)]
    assert sorted(made) == sorted(titles)
