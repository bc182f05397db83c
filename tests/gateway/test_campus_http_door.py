"""The HTTP door for campus systems, before any service is asked: who may knock (a registered
system's token, or its webhook signature; nobody's session), and what a hostile request
gets (the REST error shape, never a 500). The gateway alone on real PostgreSQL;
tests/e2e/test_campus_http_door_e2e.py carries deposits through it with every service."""

import json
import time

import pytest
from sqlalchemy import select

from gateway.auth import identity
from gateway.campus import registry
from gateway.campus.webhooks import signature_header
from gateway.models import User
from tests.gateway.conftest import page_csrf, sign_in

DOOR = "/api/v1/campus/events"
STRUCTURED = "application/cloudevents+json"


def _database(app):
    return app.extensions["lodge.database"]


@pytest.fixture
def system(gateway_app):
    """A registered system with a token and a webhook secret."""
    with _database(gateway_app).unit_of_work() as uow:
        made = registry.create_system(
            uow.session,
            {"name": "lms", "label": "Learning platform"},
            set,
            created_by="test",
        )
        token = registry.issue_token(
            uow.session,
            made["id"],
            {"days": 1},
            max_days=30,
            created_by=uow.session.scalar(select(User).where(User.username == "ada")),
        )["token"]
        secret = registry.new_webhook_secret(uow.session, made["id"])
    return {"id": made["id"], "token": token, "secret": secret}


def event(**changes) -> dict:
    # a type Lodge takes from no one: refused by the handler before any service is asked
    return {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "urn:lms",
        "type": "org.example.unknown.v1",
        "data": {},
        **changes,
    }


def signed(secret, body: bytes, name="lms", at=None) -> dict:
    return {
        "Content-Type": STRUCTURED,
        "X-Lodge-System": name,
        "X-Lodge-Signature": signature_header(secret, int(at or time.time()), body),
    }


def bearer(token) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": STRUCTURED}


def test_a_registered_systems_token_or_signature_reaches_the_handler(gateway_app, system):
    client = gateway_app.test_client()
    body = json.dumps(event()).encode()
    for headers in (bearer(system["token"]), signed(system["secret"], body)):
        answer = client.post(DOOR, data=body, headers=headers)
        # the handler refuses the type with the REST API's shape and status
        assert answer.status_code == 422, answer.get_json()
        assert list(answer.get_json()["error"]["fields"]) == ["type"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (lambda s, body: {"Content-Type": STRUCTURED}, 401),
        (lambda s, body: signed(s["secret"], body + b" "), 401),
        (lambda s, body: signed("whsec_forged", body), 401),
        (lambda s, body: signed(s["secret"], body, name="other"), 401),
        (lambda s, body: signed(s["secret"], body, at=time.time() - 3600), 401),
        (lambda s, body: signed(s["secret"], body, at=time.time() + 3600), 401),
        (lambda s, body: {**signed(s["secret"], body), "X-Lodge-Signature": "t=1,v1=x"}, 401),
        (lambda s, body: bearer("lodge_not-a-token"), 401),
    ],
)
def test_anyone_else_is_refused_before_the_event_is_read(gateway_app, system, headers, status):
    body = json.dumps(event()).encode()
    answer = gateway_app.test_client().post(DOOR, data=body, headers=headers(system, body))
    assert answer.status_code == status
    assert answer.get_json()["error"]["code"] == "unauthorized"


def test_a_token_that_is_no_systems_or_lacks_the_scope_is_forbidden(gateway_app, system):
    with _database(gateway_app).unit_of_work() as uow:
        pat = uow.session.scalar(select(User).where(User.username == "pat"))
        patrons = identity.issue_token(uow.session, pat, ["deposit"], days=1, max_days=30)
        ada = uow.session.scalar(select(User).where(User.username == "ada"))
        admins = identity.issue_token(uow.session, ada, ["manage"], days=1, max_days=30)
    client = gateway_app.test_client()
    for token in (patrons, admins):
        answer = client.post(DOOR, data=json.dumps(event()), headers=bearer(token))
        assert answer.status_code == 403


def test_a_session_counts_for_nothing_at_the_door(gateway_app, system):
    client = gateway_app.test_client()
    sign_in(client, "ada")
    csrf = page_csrf(client, "/account/tokens")
    answer = client.post(
        DOOR,
        data=json.dumps(event()),
        headers={"Content-Type": STRUCTURED, "X-CSRFToken": csrf},
    )
    assert answer.status_code == 401


def test_a_deactivated_systems_token_and_signature_stop_at_once(gateway_app, system):
    with _database(gateway_app).unit_of_work() as uow:
        registry.deactivate_system(uow.session, system["id"])
    client = gateway_app.test_client()
    body = json.dumps(event()).encode()
    assert client.post(DOOR, data=body, headers=bearer(system["token"])).status_code == 401
    assert client.post(DOOR, data=body, headers=signed(system["secret"], body)).status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type", "extra", "status", "field"),
    [
        (b"{not json", STRUCTURED, {}, 422, "body"),
        (b"[]", STRUCTURED, {}, 422, "body"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, STRUCTURED, {}, 422, "body"),
        (json.dumps(event(specversion="0.3")).encode(), STRUCTURED, {}, 422, "specversion"),
        (json.dumps(event(id="")).encode(), STRUCTURED, {}, 422, "id"),
        (json.dumps({**event(), "source": 7}).encode(), STRUCTURED, {}, 422, "source"),
        (json.dumps(event(data_base64="AAAA")).encode(), STRUCTURED, {}, 422, "data_base64"),
        (json.dumps(event(id="evt\u202e1")).encode(), STRUCTURED, {}, 422, "id"),
        (json.dumps(event(data={"title": "bell\u0007"})).encode(), STRUCTURED, {}, 422, None),
        (b"plain words", "text/plain", {}, 422, "content_type"),
        # binary mode: the attributes in ce- headers, the data in the body
        (b"{}", "application/json", {"ce-specversion": "1.0", "ce-id": "e"}, 422, "source"),
        (b"{}", "text/xml", {"ce-specversion": "1.0", "ce-id": "e"}, 422, "datacontenttype"),
    ],
)
def test_a_hostile_event_gets_the_error_shape_naming_what_is_wrong(
    gateway_app, system, body, content_type, extra, status, field
):
    headers = {**bearer(system["token"]), "Content-Type": content_type, **extra}
    answer = gateway_app.test_client().post(DOOR, data=body, headers=headers)
    assert answer.status_code == status, answer.get_data(as_text=True)[:300]
    error = answer.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}
    if field:
        assert field in error["fields"], error


def test_binary_mode_headers_are_read_case_blind_and_percent_decoded(gateway_app, system):
    headers = {
        **bearer(system["token"]),
        "Content-Type": "application/json",
        "CE-SpecVersion": "1.0",
        "Ce-Id": "evt-2",
        "ce-source": "urn%3Alms",
        "ce-type": "org.example.unknown.v1",
    }
    answer = gateway_app.test_client().post(DOOR, data=b"{}", headers=headers)
    # it got as far as the handler, which names the type it does not take
    assert answer.status_code == 422 and "type" in answer.get_json()["error"]["fields"]


def test_a_body_over_the_inbox_limit_is_refused(gateway_app, system, lodge_env):
    lodge_env.setenv("LODGE_INBOX_MAX_BYTES", "2000")
    from kernel.platform.config import get_settings

    get_settings.cache_clear()
    body = json.dumps(event(data={"pad": "x" * 3000})).encode()
    answer = gateway_app.test_client().post(DOOR, data=body, headers=bearer(system["token"]))
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"]
