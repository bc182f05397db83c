"""What a production start refuses or hides: weak secret keys, demo accounts, the metrics and
the readiness probe's error text."""

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from gateway.http.health import draining, start_draining
from gateway.models import User
from kernel.platform.config import DATABASE_OWNERS, get_settings
from kernel.platform.db import Database
from lodge.migrations import upgrade


@pytest.mark.parametrize(
    "key, problem",
    [
        (None, "LODGE_SECRET_KEY is not set"),
        ("change-me-to-64-random-characters", "is a placeholder"),
        ("k3y-" + "q" * 20, "fewer than 32 characters"),
    ],
)
def test_a_production_gateway_refuses_a_weak_secret_key(lodge_env, key, problem):
    from lodge.cli import main

    lodge_env.setenv("LODGE_GATEWAY_DATABASE_URL", "postgresql://lodge@db.invalid/lodge")
    lodge_env.setenv("LODGE_BASE_URL", "https://lodge.example.edu")
    if key is None:
        lodge_env.delenv("LODGE_SECRET_KEY")
    else:
        lodge_env.setenv("LODGE_SECRET_KEY", key)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["gateway"])
    assert result.exit_code != 0 and problem in result.output


def test_a_production_site_needs_an_https_base_url_for_letters_and_identifiers(lodge_env):
    lodge_env.setenv("LODGE_GATEWAY_DATABASE_URL", "postgresql://lodge@db.invalid/lodge")
    lodge_env.setenv("LODGE_SECRET_KEY", "Vq3" * 20)
    lodge_env.setenv("LODGE_BASE_URL", "http://lodge.example.edu")
    get_settings.cache_clear()
    assert get_settings().production_problems() == [
        "LODGE_BASE_URL must be https:// (letters and identifiers use it)"
    ]
    lodge_env.setenv("LODGE_BASE_URL", "https://lodge.example.edu")
    get_settings.cache_clear()
    assert get_settings().production_problems() == []


def test_a_production_site_signing_in_with_saml_needs_its_own_key_and_a_metadata_signer(
    lodge_env,
):
    """Replicas making key pairs of their own would each publish another certificate, and
    metadata nobody can check would let anyone name the identity providers."""
    lodge_env.setenv("LODGE_GATEWAY_DATABASE_URL", "postgresql://lodge@db.invalid/lodge")
    lodge_env.setenv("LODGE_SECRET_KEY", "Vq3" * 20)
    lodge_env.setenv("LODGE_BASE_URL", "https://lodge.example.edu")
    lodge_env.setenv("LODGE_SAML_METADATA", "https://mds.example.org/federation.xml")
    get_settings.cache_clear()
    assert get_settings().production_problems() == [
        "SAML sign-in needs LODGE_SAML_SP_KEY and LODGE_SAML_SP_CERT",
        "SAML sign-in needs LODGE_SAML_METADATA_CERT",
    ]
    for name in ("LODGE_SAML_SP_KEY", "LODGE_SAML_SP_CERT", "LODGE_SAML_METADATA_CERT"):
        lodge_env.setenv(name, f"/run/secrets/{name.lower()}.pem")
    get_settings.cache_clear()
    assert get_settings().production_problems() == []


def test_the_embedded_defaults_start_with_a_key_kept_in_the_data_folder(lodge_env):
    lodge_env.delenv("LODGE_SECRET_KEY")
    get_settings.cache_clear()
    assert get_settings().on_embedded_defaults
    assert get_settings().production_problems() == []


def _users_after_seeding(lodge_env) -> int:
    from lodge.cli import seed_demo

    get_settings.cache_clear()
    for owner in DATABASE_OWNERS:
        upgrade(owner, get_settings().database_url(owner))
    seed_demo(get_settings())
    database = Database(get_settings().database_url("gateway"), "gateway")
    with database.reading() as session:
        count = session.scalar(select(func.count()).select_from(User))
    database.dispose()
    return count


def test_demo_accounts_are_seeded_on_a_site_only_when_asked_for(lodge_env, postgres_database):
    lodge_env.setenv("LODGE_GATEWAY_DATABASE_URL", postgres_database("gateway"))
    assert _users_after_seeding(lodge_env) == 0
    lodge_env.setenv("LODGE_SEED_DEMO_ACCOUNTS", "true")
    assert _users_after_seeding(lodge_env) > 0


def test_readiness_names_what_is_down_without_its_error_text(gateway_app, caplog):
    response = gateway_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "unavailable": ["broker"]}
    assert "127.0.0.1:1" not in response.get_data(as_text=True)
    assert any("broker" in record.getMessage() for record in caplog.records)


def test_a_draining_gateway_is_not_ready(gateway_app):
    """`lodge gateway`'s workers call start_draining at SIGTERM; Kubernetes then stops
    sending the pod requests, whatever its database and broker say."""
    client = gateway_app.test_client()
    try:
        start_draining()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "draining"}
        assert client.get("/healthz").status_code == 200
    finally:
        draining.clear()


def test_metrics_need_the_metrics_token_and_are_off_without_one(gateway_app, lodge_env):
    client = gateway_app.test_client()
    assert client.get("/metrics").status_code == 404
    lodge_env.setenv("LODGE_METRICS_TOKEN", "m" * 40)
    get_settings.cache_clear()
    assert client.get("/metrics").status_code == 401
    wrong = client.get(
        "/metrics", headers={"Authorization": "Bearer " + "n" * 40, "Accept": "application/json"}
    )
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "unauthorized"
    right = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
    assert right.status_code == 200 and b"lodge_http_requests_total" in right.data
