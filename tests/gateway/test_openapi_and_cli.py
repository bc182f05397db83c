"""The API's description and the `lodge` command's safety checks."""

import re
import subprocess
import sys

from openapi_spec_validator import validate

from gateway.api.openapi import openapi_document

DESIGN_PATHS = {
    "/api/v1/profiles",
    "/api/v1/deposits",
    "/api/v1/deposits/{deposit_id}",
    "/api/v1/deposits/{deposit_id}/files",
    "/api/v1/deposits/{deposit_id}/files/{file_id}",
    "/api/v1/deposits/{deposit_id}/actions/{action}",
    "/api/v1/reviews",
    "/api/v1/reviews/{deposit_id}/actions/{action}",
    "/api/v1/items/{item_id}",
    "/api/v1/items/{item_id}/files/{file_id}",
}


def test_openapi_document_is_valid_and_covers_the_design_paths(gateway_app):
    document = openapi_document(gateway_app)
    validate(document)
    assert set(document["paths"]) >= DESIGN_PATHS
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]


def test_every_post_takes_an_idempotency_key(gateway_app):
    document = openapi_document(gateway_app)
    posts = {
        path: operations["post"]
        for path, operations in document["paths"].items()
        if "post" in operations
    }
    routes = {
        rule.rule
        for rule in gateway_app.url_map.iter_rules()
        if "POST" in rule.methods and rule.rule.startswith("/api/")
    }
    assert len(posts) == len(routes)  # the API's POSTs, every one described
    for path, post in posts.items():
        keys = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
        assert keys and keys[0]["in"] == "header" and not keys[0]["required"], path
        assert {"409", "422"} <= set(post["responses"]), path


def test_every_api_route_is_described(gateway_app):
    """Each API module describes its routes beside them; a route left out is missing here."""
    described = {
        (path, method)
        for path, operations in openapi_document(gateway_app)["paths"].items()
        for method in operations
    }
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in gateway_app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.rule != "/api/v1/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes <= described, sorted(routes - described)


def test_lodge_run_fails_at_once_without_rabbitmq(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lodge", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "LODGE_DATA_DIR": str(tmp_path),
            "LODGE_AMQP_URI": "amqp://guest:guest@127.0.0.1:1/",
        },
    )
    assert result.returncode != 0
    assert "RabbitMQ is not reachable at amqp://guest:********@127.0.0.1:1/" in result.stderr
    assert "rabbitmq-server -detached" in result.stderr
    assert not (tmp_path / "intake.db").exists()
