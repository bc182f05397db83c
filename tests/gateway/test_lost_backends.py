"""The gateway when its backends go away: database connections killed (pg_terminate_backend
on the test's own database) are replaced as they are taken, and a broker that cannot be
reached (this app's points at a closed port) answers 503 with the error shape, never 500."""

from tests.gateway.conftest import page_csrf, sign_in
from tests.interface.test_database_loss import terminate_backends


def test_signed_in_pages_answer_after_the_database_dropped_every_connection(gateway_app):
    client = gateway_app.test_client()
    assert sign_in(client, "pat").status_code == 302
    assert client.get("/account/tokens").status_code == 200
    terminate_backends(gateway_app.extensions["lodge.database"].url)
    assert client.get("/account/tokens").status_code == 200  # the session is read anew
    terminate_backends(gateway_app.extensions["lodge.database"].url)
    other = gateway_app.test_client()
    page_csrf(other)
    assert sign_in(other, "alex").status_code == 302


def test_an_unreachable_broker_answers_503_with_the_error_shape(gateway_app):
    gateway_app.extensions["lodge.rpc"].timeout = 1
    client = gateway_app.test_client()
    assert sign_in(client, "pat").status_code == 302
    response = client.get("/api/v1/profiles")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
