"""Local sign-in, sessions, rate limits and tokens, on the gateway alone (real PostgreSQL)."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from gateway.auth import identity
from gateway.models import ApiToken, SignInSession, User
from tests.gateway.conftest import PASSWORD, page_csrf, sign_in


def test_passwords_shorter_than_the_minimum_are_refused(gateway_app):
    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        with pytest.raises(ValueError, match="at least 12"):
            identity.create_user(uow.session, "short", "S", "s@x.edu", "tooshort", [], ["patron"])
        user = uow.session.scalar(select(User).where(User.username == "pat"))
        with pytest.raises(ValueError):
            identity.set_password(user, "abc")


def test_sign_in_rotates_the_session_and_sign_out_ends_it_everywhere(gateway_app):
    client = gateway_app.test_client()
    before = page_csrf(client)
    response = sign_in(client, "pat")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert page_csrf(client, "/account/tokens") != before  # a fresh session, fresh CSRF token
    stolen = client.get_cookie("lodge_session").value
    client.post("/logout", data={"csrf_token": page_csrf(client, "/account/tokens")})
    # the old cookie, replayed by someone who copied it, no longer signs anyone in
    thief = gateway_app.test_client()
    thief.set_cookie("lodge_session", stolen)
    assert thief.get("/account/tokens").status_code == 302


@pytest.mark.parametrize(
    "column, age",
    [("seen_at", timedelta(minutes=31)), ("created_at", timedelta(hours=8, minutes=1))],
)
def test_idle_and_absolute_timeouts_end_a_session(gateway_app, column, age):
    client = gateway_app.test_client()
    sign_in(client, "pat")
    assert client.get("/account/tokens").status_code == 200
    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        uow.session.execute(update(SignInSession).values({column: identity._now() - age}))
    response = client.get("/account/tokens")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_failed_sign_ins_are_limited_per_account_across_addresses(gateway_app):
    client = gateway_app.test_client()
    for attempt in range(identity.MAX_FAILURES_PER_ACCOUNT):
        # a new address each time: the account's limit still holds
        assert sign_in(client, "pat", "wrong", address=f"10.1.0.{attempt}").status_code == 401
    blocked = sign_in(client, "pat", PASSWORD, address="10.2.0.1")
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins. Try again in 15 minute(s)." in blocked.get_data(as_text=True)
    # another gateway instance shares the database, so it refuses too
    from gateway.app import create_app

    other = create_app({"TESTING": True}).test_client()
    assert sign_in(other, "pat", PASSWORD, address="10.3.0.1").status_code == 429
    # another account is not affected
    assert sign_in(client, "ada", PASSWORD, address="10.2.0.1").status_code == 302


def test_failed_sign_ins_are_limited_per_address(gateway_app):
    client = gateway_app.test_client()
    for attempt in range(identity.MAX_FAILURES_PER_ADDRESS):
        sign_in(client, f"guess{attempt}", "wrong", address="10.9.9.9")
    assert sign_in(client, "pat", PASSWORD, address="10.9.9.9").status_code == 429
    assert sign_in(client, "pat", PASSWORD, address="10.9.9.8").status_code == 302


def test_behind_trusted_proxies_the_limit_counts_each_client_not_the_proxy(gateway_app, lodge_env):
    lodge_env.setenv("LODGE_TRUSTED_PROXIES", "10.0.0.0/8")
    from kernel.platform.config import get_settings

    get_settings.cache_clear()
    client = gateway_app.test_client()

    def through_ingress(username, password, forwarded_for):
        token = page_csrf(client)
        return client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token},
            headers={"X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )

    for attempt in range(identity.MAX_FAILURES_PER_ADDRESS):
        # one guesser behind the ingress; a forged hop on the left changes nothing
        through_ingress(f"guess{attempt}", "wrong", f"192.0.2.{attempt}, 198.51.100.66")
    assert through_ingress("pat", PASSWORD, "198.51.100.66").status_code == 429
    # everyone else behind the same ingress still signs in
    assert through_ingress("pat", PASSWORD, "198.51.100.7").status_code == 302
    # a client that is not a trusted proxy cannot pick its address with the header
    direct = gateway_app.test_client()
    token = page_csrf(direct)
    spoofed = direct.post(
        "/login",
        data={"username": "ada", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-For": "198.51.100.7"},
        environ_base={"REMOTE_ADDR": "198.51.100.66"},
    )
    assert spoofed.status_code == 429


def test_parallel_wrong_passwords_never_pass_the_limit_together(gateway_app):
    from concurrent.futures import ThreadPoolExecutor

    from gateway.models import FailedSignIn

    tries = identity.MAX_FAILURES_PER_ACCOUNT + 7
    # old failures every attempt sweeps away as it goes: sweeping must not make them wait
    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        long_ago = identity._now() - 2 * identity.FAILURE_WINDOW
        uow.session.add_all(
            FailedSignIn(key=f"address:10.5.0.{n}", at=long_ago) for n in range(200)
        )

    def guess(attempt):
        return sign_in(
            gateway_app.test_client(), "pat", "wrong", address=f"10.4.0.{attempt}"
        ).status_code

    with ThreadPoolExecutor(tries) as pool:
        statuses = list(pool.map(guess, range(tries)))
    assert statuses.count(401) == identity.MAX_FAILURES_PER_ACCOUNT
    assert statuses.count(429) == tries - identity.MAX_FAILURES_PER_ACCOUNT, statuses


def test_a_good_sign_in_clears_the_accounts_failures(gateway_app):
    client = gateway_app.test_client()
    for _ in range(identity.MAX_FAILURES_PER_ACCOUNT - 1):
        sign_in(client, "pat", "wrong")
    assert sign_in(client, "pat").status_code == 302
    for _ in range(identity.MAX_FAILURES_PER_ACCOUNT - 1):
        assert sign_in(gateway_app.test_client(), "pat", "wrong").status_code == 401


def test_users_make_see_and_revoke_their_own_tokens(gateway_app):
    client = gateway_app.test_client()
    sign_in(client, "pat")
    csrf = page_csrf(client, "/account/tokens")
    created = client.post(
        "/account/tokens",
        data={"csrf_token": csrf, "name": "my script", "scopes": ["deposit", "manage"]},
    )
    assert created.status_code == 201
    html = created.get_data(as_text=True)
    value = html.split('id="new-token">')[1].split("<")[0]
    assert value.startswith("lodge_")
    with gateway_app.extensions["lodge.database"].reading() as db:
        row = db.scalar(select(ApiToken))
        assert row.scopes == ["deposit"]  # a patron's roles cannot use 'manage'
        assert value not in (row.token_hash, row.prefix) and row.name == "my script"
        token_id, prefix = row.id, row.prefix
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert value not in listing and prefix in listing and "never" in listing
    # someone else's token cannot be revoked by this user: 404
    other = gateway_app.test_client()
    sign_in(other, "alex")
    refused = other.post(
        f"/account/tokens/{token_id}/revoke",
        data={"csrf_token": page_csrf(other, "/account/tokens")},
    )
    assert refused.status_code == 404
    assert (
        client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code
        == 302
    )
    with gateway_app.extensions["lodge.database"].reading() as db:
        assert db.get(ApiToken, token_id).revoked_at is not None


def test_only_admins_make_tokens_for_other_accounts(gateway_app):
    patron = gateway_app.test_client()
    sign_in(patron, "pat")
    assert patron.get("/staff/tokens").status_code == 403
    admin = gateway_app.test_client()
    sign_in(admin, "ada")
    csrf = page_csrf(admin, "/staff/tokens")
    created = admin.post(
        "/staff/tokens",
        data={"csrf_token": csrf, "username": "alex", "name": "campus CRIS", "scopes": ["review"]},
    )
    assert created.status_code == 201
    assert "campus CRIS" in created.get_data(as_text=True)
    unknown = admin.post(
        "/staff/tokens", data={"csrf_token": csrf, "username": "nobody", "scopes": ["review"]}
    )
    assert unknown.status_code == 422


def test_state_changing_forms_need_the_csrf_token(gateway_app):
    client = gateway_app.test_client()
    sign_in(client, "pat")
    for path in ("/account/tokens", "/logout", "/language"):
        assert client.post(path, data={"locale": "de"}).status_code == 400
