"""Tokens expire; admins deactivate accounts; roles from OIDC claims age. The gateway alone
on real PostgreSQL, without the services (tests/e2e/test_sign_in.py has letters)."""

from datetime import timedelta

from sqlalchemy import select, update

from gateway.auth import identity
from gateway.models import ApiToken, User
from tests.gateway.conftest import page_csrf, sign_in

PATRONS = "/api/v1/staff/patrons?q=pat"


def _user(db, username) -> User:
    return db.scalar(select(User).where(User.username == username))


def _token(app, username, days=30, max_days=365) -> str:
    with app.extensions["lodge.database"].unit_of_work() as uow:
        return identity.issue_token(
            uow.session, _user(uow.session, username), ["deposit"], days=days, max_days=max_days
        )


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_token_lives_the_days_chosen_at_creation_at_most_the_sites_limit(gateway_app, lodge_env):
    lodge_env.setenv("LODGE_TOKEN_MAX_DAYS", "90")
    from kernel.platform.config import get_settings

    get_settings.cache_clear()
    client = gateway_app.test_client()
    sign_in(client, "pat")
    csrf = page_csrf(client, "/account/tokens")
    for days in ("91", "0", "-1", "ten", "9" * 40):
        refused = client.post(
            "/account/tokens", data={"csrf_token": csrf, "scopes": ["deposit"], "days": days}
        )
        assert refused.status_code == 422
        assert "Choose from 1 to 90 days." in refused.get_data(as_text=True)
    assert (
        client.post(
            "/account/tokens", data={"csrf_token": csrf, "scopes": ["deposit"], "days": "30"}
        ).status_code
        == 201
    )
    # no choice: the site's most
    assert (
        client.post("/account/tokens", data={"csrf_token": csrf, "scopes": ["deposit"]}).status_code
        == 201
    )
    with gateway_app.extensions["lodge.database"].reading() as db:
        lifetimes = sorted(
            round((t.expires_at - t.created_at) / timedelta(days=1))
            for t in db.scalars(select(ApiToken))
        )
    assert lifetimes == [30, 90]


def test_an_expired_token_opens_nothing(gateway_app):
    client = gateway_app.test_client()
    token = _token(gateway_app, "ada")
    assert client.get(PATRONS, headers=_bearer(token)).status_code == 200
    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        uow.session.execute(update(ApiToken).values(expires_at=identity._now()))
    refused = client.get(PATRONS, headers=_bearer(token))
    assert refused.status_code == 401 and "expired" in refused.get_json()["error"]["message"]
    # and it is no longer listed as live
    sign_in(client, "ada")
    assert "lodge_" not in client.get("/staff/tokens").get_data(as_text=True).split("<h2>")[-1]


def test_deactivating_an_account_stops_its_sessions_and_tokens_at_once(gateway_app):
    patron = gateway_app.test_client()
    sign_in(patron, "pat")
    assert patron.get("/account/tokens").status_code == 200
    token = _token(gateway_app, "pat")
    admin = gateway_app.test_client()
    sign_in(admin, "ada")
    with gateway_app.extensions["lodge.database"].reading() as db:
        pat_id, ada_id = _user(db, "pat").id, _user(db, "ada").id
    csrf = {"X-CSRFToken": page_csrf(admin, "/staff/accounts")}
    changed = admin.patch(f"/api/v1/staff/accounts/{pat_id}", json={"active": False}, headers=csrf)
    assert changed.status_code == 200 and changed.get_json()["active"] is False
    # the session and the token stop now, and the password no longer signs in
    assert patron.get("/account/tokens").status_code == 302
    assert patron.get(PATRONS, headers=_bearer(token)).status_code == 401
    assert sign_in(gateway_app.test_client(), "pat").status_code == 401
    assert "deactivated on" in admin.get("/staff/accounts?q=pat").get_data(as_text=True)
    # reactivated: a new sign-in works; the revoked token stays revoked
    page = admin.post(
        f"/staff/accounts/{pat_id}",
        data={"csrf_token": page_csrf(admin, "/staff/accounts"), "active": "true"},
    )
    assert page.status_code == 302
    assert sign_in(gateway_app.test_client(), "pat").status_code == 302
    assert patron.get(PATRONS, headers=_bearer(token)).status_code == 401
    # nobody locks themselves out
    own = admin.patch(f"/api/v1/staff/accounts/{ada_id}", json={"active": False}, headers=csrf)
    assert own.status_code == 409 and own.get_json()["error"]["code"] == "conflict"


def test_account_changes_refuse_bad_input_with_the_error_shape(gateway_app):
    admin = gateway_app.test_client()
    sign_in(admin, "ada")
    with gateway_app.extensions["lodge.database"].reading() as db:
        pat_id = _user(db, "pat").id
    csrf = {"X-CSRFToken": page_csrf(admin, "/staff/accounts")}
    for body in (
        {"active": "maybe"},
        {"active": 2},
        {},
        {"active": False, "extra": 1},
        [False],
        {"active": None},
    ):
        answer = admin.patch(f"/api/v1/staff/accounts/{pat_id}", json=body, headers=csrf)
        assert answer.status_code == 422, body
        assert set(answer.get_json()["error"]) == {"code", "message", "fields"}
    for forged in ("nobody", "x" * 5000, "%0a%0d", "..%2f"):
        answer = admin.patch(
            f"/api/v1/staff/accounts/{forged}", json={"active": False}, headers=csrf
        )
        assert answer.status_code == 404, forged
    # the text rule refuses control characters in any query argument
    refused = admin.get("/staff/accounts?q=" + "\x01" * 500)
    assert refused.status_code == 422
    assert admin.get("/staff/accounts?q=" + "x" * 500).status_code == 200
    patron = gateway_app.test_client()
    sign_in(patron, "pat")
    assert (
        patron.patch(
            f"/api/v1/staff/accounts/{pat_id}",
            json={"active": False},
            headers={"X-CSRFToken": page_csrf(patron, "/account/tokens")},
        ).status_code
        == 403
    )


def _oidc_staff(app, signed_in_days_ago: float) -> str:
    """A token of someone whose staff role came from the identity provider's claims."""
    with app.extensions["lodge.database"].unit_of_work() as uow:
        mapping = identity.ClaimMapping(roles={"library": "staff"})
        user = identity.provision_user(
            uow.session,
            "https://idp.example.edu",
            "s-1",
            {"preferred_username": "sky", "groups": ["library"]},
            mapping,
        )
        user.signed_in_at = identity._now() - timedelta(days=signed_in_days_ago)
        return identity.issue_token(uow.session, user, ["deposit"], days=30, max_days=365)


def test_roles_from_claims_count_only_while_the_last_sign_in_is_recent(gateway_app):
    client = gateway_app.test_client()
    token = _oidc_staff(gateway_app, signed_in_days_ago=1)
    assert client.get(PATRONS, headers=_bearer(token)).status_code == 200
    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        uow.session.execute(
            update(User)
            .where(User.username == "sky")
            .values(signed_in_at=identity._now() - timedelta(days=8))
        )
    # a week without signing in: the claims may have changed, so the staff role is not used
    stale = client.get(PATRONS, headers=_bearer(token))
    assert stale.status_code == 403


def test_deactivation_drops_roles_that_came_from_claims(gateway_app):
    _oidc_staff(gateway_app, signed_in_days_ago=0)
    admin = gateway_app.test_client()
    sign_in(admin, "ada")
    with gateway_app.extensions["lodge.database"].reading() as db:
        sky_id = _user(db, "sky").id
    # letters hear of it after the change is stored; here no broker answers, so the admin
    # is asked to do it again
    answer = admin.patch(
        f"/api/v1/staff/accounts/{sky_id}",
        json={"active": False},
        headers={"X-CSRFToken": page_csrf(admin, "/staff/accounts")},
    )
    assert answer.status_code == 503 and "do it again" in answer.get_json()["error"]["message"]
    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        sky = _user(uow.session, "sky")
        assert sky.roles == [] and sky.deactivated_at is not None
        # the next sign-in through the identity provider brings no roles back while deactivated
        identity.provision_user(
            uow.session,
            "https://idp.example.edu",
            "s-1",
            {"groups": ["library"]},
            identity.ClaimMapping(roles={"library": "staff"}),
        )
        assert sky.roles == []
