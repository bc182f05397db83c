"""Registering campus systems over the REST API: the system's own account, its tokens,
deactivation, and what a hostile body gets. The gateway alone on real PostgreSQL; the
profiles a system may use are checked against intake, so these bodies name none (the
e2e test tests/e2e/test_campus_systems_pages.py does, with every service)."""

import pytest
from sqlalchemy import select

from gateway.auth import identity
from gateway.campus import registry, systems
from gateway.models import CampusSystem, User
from kernel.contracts.exceptions import InvalidInput
from tests.gateway.conftest import sign_in

SYSTEMS = "/api/v1/staff/systems"


def _database(app):
    return app.extensions["lodge.database"]


def _token(app, username, scopes=("manage",)) -> dict:
    with _database(app).unit_of_work() as uow:
        user = uow.session.scalar(select(User).where(User.username == username))
        token = identity.issue_token(uow.session, user, scopes, days=30, max_days=365)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def manager(gateway_app):
    with _database(gateway_app).unit_of_work() as uow:
        identity.create_user(
            uow.session, "mo", "Mo", "mo@x.edu", "correct horse battery", [], ["manager"]
        )
    return _token(gateway_app, "mo")


def register(client, manager, **changes):
    body = {
        "name": "thesis-flow",
        "label": "Thesis workflow",
        "allowed_hosts": ["files.example.edu", "127.0.0.1:8443"],
        **changes,
    }
    return client.post(SYSTEMS, json=body, headers=manager)


def test_a_registered_system_gets_an_account_that_cannot_sign_in(gateway_app, manager):
    client = gateway_app.test_client()
    created = register(client, manager)
    assert created.status_code == 201, created.get_json()
    system = created.get_json()
    assert created.headers["Location"].endswith(f"{SYSTEMS}/{system['id']}")
    assert system["account"] == "system-thesis-flow"
    assert system["broker_user"] == "campus-thesis-flow"
    assert system["allowed_hosts"] == ["files.example.edu", "127.0.0.1:8443"]
    assert system["active"] is True and system["tokens"] == [] and system["profiles"] == []
    with _database(gateway_app).reading() as db:
        account = db.scalar(select(User).where(User.username == "system-thesis-flow"))
        assert account.password_hash is None and account.roles == [] and account.groups == []
        assert account.name == "Thesis workflow"  # letters name it so
    # no password opens it: signing in on the pages fails, whatever is tried
    for password in ("", "x" * 12):
        page = sign_in(gateway_app.test_client(), "system-thesis-flow", password)
        assert page.status_code != 302
    listed = client.get(SYSTEMS, headers=manager).get_json()["items"]
    assert [s["name"] for s in listed] == ["thesis-flow"]
    assert client.get(f"{SYSTEMS}/{system['id']}", headers=manager).get_json() == system


def test_names_accounts_and_broker_users_are_each_one_systems(gateway_app, manager):
    client = gateway_app.test_client()
    assert register(client, manager).status_code == 201
    again = register(client, manager)
    assert again.status_code == 409
    assert again.get_json()["error"]["fields"] == {"name": ["already used"]}
    clash = register(client, manager, name="other", broker_user="campus-thesis-flow")
    assert clash.status_code == 409
    assert clash.get_json()["error"]["fields"] == {"broker_user": ["already used"]}
    # an existing person's account is never taken over
    taken = register(client, manager, name="pat-flow")
    assert taken.status_code == 201
    with _database(gateway_app).unit_of_work() as uow:
        identity.create_user(uow.session, "system-x", "X", "x@x.edu", None, [], [])
    assert register(client, manager, name="x").status_code == 409


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "Thesis Flow"}, "name"),
        ({"name": "../../etc"}, "name"),
        ({"name": "a" * 41}, "name"),
        ({"name": 7}, "name"),
        ({"label": ""}, "label"),
        ({"label": "x" * 301}, "label"),
        ({"label": "Thesis\u202eflow"}, "label"),
        ({"label": "Thesis\x00flow"}, "label"),
        ({"label": ["a"]}, "label"),
        ({"allowed_hosts": "files.example.edu"}, "allowed_hosts"),
        ({"allowed_hosts": ["https://files.example.edu/"]}, "allowed_hosts"),
        ({"allowed_hosts": ["files example.edu"]}, "allowed_hosts"),
        ({"allowed_hosts": ["files.example.edu:99999"]}, "allowed_hosts"),
        ({"allowed_hosts": ["-bad.example.edu"]}, "allowed_hosts"),
        ({"allowed_hosts": ["[::1"]}, "allowed_hosts"),
        ({"allowed_hosts": [["nested"]]}, "allowed_hosts"),
        ({"allowed_hosts": ["h.example.edu"] * 51}, "allowed_hosts"),
        ({"allowed_hosts": ["a" * 400]}, "allowed_hosts"),
        ({"profiles": [{"profile_id": "thesis", "mode": "approve"}]}, "profiles"),
        ({"profiles": [{"profile_id": "Thesis!", "mode": "draft"}]}, "profiles"),
        ({"profiles": {"thesis": "draft"}}, "profiles"),
        (
            {
                "profiles": [
                    {"profile_id": "t", "mode": "draft"},
                    {"profile_id": "t", "mode": "submit"},
                ]
            },
            "profiles",
        ),
        ({"sends_people": "yes please"}, "sends_people"),
        ({"broker_user": "guest\nadmin"}, "broker_user"),
        ({"broker_user": "a b"}, "broker_user"),
        # Lodge's own accounts are never a system's
        ({"broker_user": "lodge-intake"}, "broker_user"),
        ({"broker_user": "guest"}, "broker_user"),
        # who made it and which account it is are Lodge's to say
        ({"user_id": "u-admin"}, "user_id"),
        ({"id": "forged"}, "id"),
        ({"active": False}, "active"),
    ],
)
def test_a_hostile_registration_is_refused_with_its_field_and_changes_nothing(
    gateway_app, manager, changes, field
):
    refused = register(gateway_app.test_client(), manager, **changes)
    assert refused.status_code == 422, refused.get_json()
    error = refused.get_json()["error"]
    assert error["code"] == "invalid_input" and field in error["fields"]
    with _database(gateway_app).reading() as db:
        assert db.scalars(select(CampusSystem)).all() == []
        assert db.scalar(select(User).where(User.username.like("system-%"))) is None


def test_bodies_that_are_no_object_too_big_or_too_deep_are_refused(gateway_app, manager):
    client = gateway_app.test_client()
    for body, status in (
        (b"[]", 422),
        (b"{not json", 422),
        (b'{"name": "x", "label": "' + b"x" * (1024 * 1024) + b'"}', 413),
        (b'{"allowed_hosts": ' + b"[" * 40 + b"]" * 40 + b"}", 422),
    ):
        answer = client.post(
            SYSTEMS, data=body, headers={**manager, "Content-Type": "application/json"}
        )
        assert answer.status_code == status, (body[:40], answer.get_json())
        assert "error" in answer.get_json()


def test_only_managers_and_admins_register_systems(gateway_app, manager):
    client = gateway_app.test_client()
    for headers in (
        _token(gateway_app, "pat", ("deposit",)),
        _token(gateway_app, "alex", ("review",)),
        _token(gateway_app, "mo", ("deposit",)),  # a manager's token without the scope
    ):
        assert register(client, headers).status_code == 403
        assert client.get(SYSTEMS, headers=headers).status_code == 403
    assert client.get(SYSTEMS).status_code == 401
    assert register(client, _token(gateway_app, "ada")).status_code == 201


def test_a_systems_token_is_shown_once_and_finds_the_system(gateway_app, manager):
    client = gateway_app.test_client()
    system = register(client, manager).get_json()
    tokens = f"{SYSTEMS}/{system['id']}/tokens"
    made = client.post(tokens, json={"name": "production", "days": 30}, headers=manager)
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    token = made.get_json()
    assert token["scopes"] == ["deposit"] and token["token"].startswith(token["prefix"])
    shown = client.get(f"{SYSTEMS}/{system['id']}", headers=manager).get_json()["tokens"]
    assert [t["id"] for t in shown] == [token["id"]] and "token" not in shown[0]
    with _database(gateway_app).unit_of_work() as uow:
        holder = identity.holder_of_token(uow.session, token["token"])
        assert holder.scopes == {"deposit"}
        found = systems.by_account(uow.session, holder.user.id)
        assert found is not None and found.name == "thesis-flow"
    for body in (
        {"days": 0},
        {"days": 100000},
        {"days": "30"},
        {"days": 30, "name": "x" * 101},
        {"days": 30, "name": "bad\x07name"},
        {"days": 30, "scopes": ["manage"]},
        {},
    ):
        refused = client.post(tokens, json=body, headers=manager)
        assert refused.status_code == 422, body
    # revoked: it opens nothing, and revoking it again or another system's finds nothing
    assert client.delete(f"{tokens}/{token['id']}", headers=manager).status_code == 204
    assert client.delete(f"{tokens}/{token['id']}", headers=manager).status_code == 404
    other = register(client, manager, name="other", label="Other").get_json()
    theirs = client.post(
        f"{SYSTEMS}/{other['id']}/tokens", json={"days": 1}, headers=manager
    ).get_json()
    assert client.delete(f"{tokens}/{theirs['id']}", headers=manager).status_code == 404
    assert client.get(
        SYSTEMS, headers={"Authorization": f"Bearer {token['token']}"}
    ).status_code == (401)


def test_deactivating_a_system_revokes_its_tokens_and_hides_it_from_the_lookups(
    gateway_app, manager
):
    client = gateway_app.test_client()
    system = register(client, manager).get_json()
    one = f"{SYSTEMS}/{system['id']}"
    token = client.post(f"{one}/tokens", json={"days": 5}, headers=manager).get_json()["token"]
    changed = client.patch(one, json={"label": "Theses", "sends_people": True}, headers=manager)
    assert changed.status_code == 200
    assert changed.get_json()["label"] == "Theses" and changed.get_json()["sends_people"]
    gone = client.patch(one, json={"active": False}, headers=manager)
    assert gone.status_code == 200 and gone.get_json()["active"] is False
    assert gone.get_json()["tokens"] == []
    with _database(gateway_app).unit_of_work() as uow:
        assert identity.holder_of_token(uow.session, token) is None
        assert systems.by_name(uow.session, "thesis-flow") is None
        assert systems.by_broker_user(uow.session, "campus-thesis-flow") is None
    # a deactivated system is changed only by reactivating it; no token is made for it
    assert client.patch(one, json={"label": "Again"}, headers=manager).status_code == 409
    assert client.post(f"{one}/tokens", json={"days": 5}, headers=manager).status_code == 409
    back = client.patch(one, json={"active": True}, headers=manager)
    assert back.status_code == 200 and back.get_json()["active"] is True
    with _database(gateway_app).unit_of_work() as uow:
        assert systems.by_name(uow.session, "thesis-flow") is not None
        assert identity.holder_of_token(uow.session, token) is None  # it stays revoked
    assert client.get(f"{SYSTEMS}/no-such-system", headers=manager).status_code == 404
    assert client.patch(f"{SYSTEMS}/no-such", json={}, headers=manager).status_code == 404


def test_profiles_are_checked_against_those_there_are_and_give_the_lookups_modes(gateway_app):
    asked = []

    def known():
        asked.append(True)
        return {"thesis", "open-works"}

    with _database(gateway_app).unit_of_work() as uow:
        with pytest.raises(InvalidInput) as refused:
            registry.create_system(
                uow.session,
                {
                    "name": "lms",
                    "label": "LMS",
                    "profiles": [{"profile_id": "gone", "mode": "draft"}],
                },
                known,
                created_by="u",
            )
        assert refused.value.fields == {"profiles": ["no profile 'gone'"]}
    with _database(gateway_app).unit_of_work() as uow:
        made = registry.create_system(
            uow.session,
            {
                "name": "lms",
                "label": "LMS",
                "profiles": [
                    {"profile_id": "thesis", "mode": "mediated"},
                    {"profile_id": "open-works", "mode": "draft"},
                ],
            },
            known,
            created_by="u",
        )
    with _database(gateway_app).unit_of_work() as uow:
        found = systems.by_name(uow.session, "lms")
        assert found.modes == {"thesis": "mediated", "open-works": "draft"}
        assert found.mode_for("thesis") == "mediated" and found.mode_for("other") is None
        registry.update_system(
            uow.session,
            made["id"],
            {"profiles": [{"profile_id": "thesis", "mode": "submit"}]},
            known,
        )
    with _database(gateway_app).unit_of_work() as uow:
        assert systems.by_name(uow.session, "lms").modes == {"thesis": "submit"}
        # a change that names no profiles asks intake nothing
        asked.clear()
        registry.update_system(uow.session, made["id"], {"label": "The LMS"}, known)
        assert asked == []


def test_allowed_hosts_are_kept_as_the_fetch_reads_them(gateway_app, manager):
    entries = [
        "Files.Example.EDU",
        "files.example.edu:443",
        "[::1]:8443",
        "http://127.0.0.1:8000",
        "s3://campus-staging",
    ]
    made = register(gateway_app.test_client(), manager, allowed_hosts=entries)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["allowed_hosts"] == [
        "files.example.edu",
        "files.example.edu",
        "[::1]:8443",
        "http://127.0.0.1:8000",
        "s3://campus-staging",
    ]
    for wrong in ("ftp://files.example.edu", "s3://X", "files.example.edu/path", "user@host"):
        refused = register(gateway_app.test_client(), manager, name="other", allowed_hosts=[wrong])
        assert refused.status_code == 422, wrong
        assert "allowed_hosts" in refused.get_json()["error"]["fields"]


def test_a_webhook_secret_is_shown_once_replaced_by_the_next_and_ends_with_the_system(
    gateway_app, manager
):
    client = gateway_app.test_client()
    system = register(client, manager).get_json()
    assert system["webhook_secret_at"] is None
    one = f"{SYSTEMS}/{system['id']}"
    made = client.post(f"{one}/webhook-secret", headers=manager)
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    first = made.get_json()["secret"]
    shown = client.get(one, headers=manager)
    assert shown.get_json()["webhook_secret_at"] is not None and first not in shown.text
    second = client.post(f"{one}/webhook-secret", headers=manager).get_json()["secret"]
    assert second != first
    with _database(gateway_app).reading() as db:
        found, secret = registry.webhook_secret_of(db, "thesis-flow")
        assert (found.name, secret) == ("thesis-flow", second)
        assert registry.webhook_secret_of(db, "nobody") is None
    assert client.post(f"{SYSTEMS}/nope/webhook-secret", headers=manager).status_code == 404
    assert client.post(f"{one}/webhook-secret", headers=_token(gateway_app, "pat")).status_code == (
        403
    )
    client.patch(one, json={"active": False}, headers=manager)
    with _database(gateway_app).reading() as db:
        assert registry.webhook_secret_of(db, "thesis-flow") is None
    assert client.post(f"{one}/webhook-secret", headers=manager).status_code == 409
