"""The Idempotency-Key layer when things die under it: the answer is kept even if the
gateway's database connection dropped as it was stored; a key whose request died with its
worker is free again after the worker timeout; a database connection lost under a
request answers 503 with Retry-After and the error shape, never 500."""

from datetime import timedelta

import pytest
from flask import jsonify
from sqlalchemy import event, select, text

from gateway.http.idempotency import ABANDONED, HEADER
from gateway.models import IdempotentRequest, User
from kernel.contracts.exceptions import Unavailable
from kernel.platform.db import utcnow
from tests.gateway.conftest import page_csrf, sign_in
from tests.support.system import pg_admin


def kill_next_statement_on(engine, marker: str):
    """Terminates the backend of the next statement whose SQL contains `marker`, just
    before it runs: the statement meets a dead connection. Returns the kills so far."""
    kills = []

    @event.listens_for(engine, "before_cursor_execute")
    def terminate(connection, cursor, statement, parameters, context, executemany):
        if marker in statement and not kills:
            pid = connection.connection.dbapi_connection.get_backend_pid()
            kills.append(pid)
            pg_admin(f"SELECT pg_terminate_backend({pid})")

    return kills


@pytest.fixture
def app(gateway_app):
    """The gateway with two API routes of its own that make nothing but an answer."""
    made = []

    @gateway_app.post("/api/v1/test-made")
    def make():
        made.append(1)
        return jsonify({"made": len(made)}), 201

    @gateway_app.post("/api/v1/test-unavailable")
    def unavailable():
        raise Unavailable("The database connection failed; try again.")

    @gateway_app.post("/api/v1/test-gateway-database")
    def read_own_database():
        database = gateway_app.extensions["lodge.database"]
        kill_next_statement_on(database.engine, "test-gateway-database")
        with database.reading() as session:
            session.execute(text("SELECT 'test-gateway-database'"))
        return jsonify({}), 201

    gateway_app.made = made
    return gateway_app


def patron(app):
    client = app.test_client()
    assert sign_in(client, "pat").status_code == 302
    return client, {"X-CSRFToken": page_csrf(client, "/account/tokens")}


def test_the_answer_is_kept_though_the_connection_dropped_as_it_was_stored(app):
    client, csrf = patron(app)
    kills = kill_next_statement_on(app.extensions["lodge.database"].engine, "UPDATE idempotent")
    first = client.post("/api/v1/test-made", json={}, headers={**csrf, HEADER: "k-1"})
    assert first.status_code == 201 and kills
    again = client.post("/api/v1/test-made", json={}, headers={**csrf, HEADER: "k-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() == {"made": 1}
    assert app.made == [1]


def test_a_key_whose_worker_died_is_free_after_the_worker_timeout(app):
    client, csrf = patron(app)
    with app.extensions["lodge.database"].unit_of_work() as uow:
        pat = uow.session.scalar(select(User).where(User.username == "pat"))
        for key, age in (("died", ABANDONED + timedelta(seconds=5)), ("running", timedelta())):
            uow.session.add(
                IdempotentRequest(
                    caller_id=pat.id, key=key, fingerprint="x", created_at=utcnow() - age
                )
            )
    running = client.post("/api/v1/test-made", json={}, headers={**csrf, HEADER: "running"})
    assert running.status_code == 409
    assert running.get_json()["error"]["fields"] == {HEADER: ["still running"]}
    retried = client.post("/api/v1/test-made", json={}, headers={**csrf, HEADER: "died"})
    assert retried.status_code == 201 and app.made == [1]


def test_a_lost_database_connection_answers_503_with_retry_after(app, caplog):
    client, csrf = patron(app)
    for path in ("/api/v1/test-gateway-database", "/api/v1/test-unavailable"):
        answer = client.post(path, json={}, headers=csrf)
        assert answer.status_code == 503, path
        assert answer.headers["Retry-After"].isdigit()
        assert answer.get_json()["error"]["code"] == "unavailable"
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
