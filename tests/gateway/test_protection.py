"""Protection the gateway gives every response: no stack traces, security headers, and no
secret in the repository."""

import re
import subprocess

from tests.gateway.conftest import REPO_ROOT


def _app_with_a_broken_page(gateway_app):
    gateway_app.config["PROPAGATE_EXCEPTIONS"] = False

    @gateway_app.get("/broken-for-the-test")
    def broken():
        raise RuntimeError("secret detail: /etc/lodge/db-password")

    return gateway_app.test_client()


def test_an_unexpected_error_is_a_generic_page_or_json_without_a_trace(gateway_app):
    client = _app_with_a_broken_page(gateway_app)
    as_json = client.get("/broken-for-the-test", headers={"Accept": "application/json"})
    assert as_json.status_code == 500
    assert as_json.get_json() == {
        "error": {
            "code": "internal_error",
            "fields": {},
            "message": "Something went wrong on our side.",
        }
    }
    as_html = client.get("/broken-for-the-test", headers={"Accept": "text/html"})
    assert as_html.status_code == 500 and as_html.mimetype == "text/html"
    for response in (as_json, as_html):
        text = response.get_data(as_text=True)
        assert "Traceback" not in text and "secret detail" not in text
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_response_has_the_security_headers(gateway_app):
    client = gateway_app.test_client()
    for path in ("/login", "/healthz", "/no-such-page", "/api/v1/deposits", "/static/lodge.css"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_no_template_has_an_inline_script_or_event_handler():
    templates = (REPO_ROOT / "gateway" / "templates").rglob("*.html")
    for template in templates:
        text = template.read_text()
        # a JSON-LD data block is never run, so the CSP has nothing to allow for it
        assert not re.search(
            r"<script(?![^>]*\b(?:src=|type=\"application/ld\+json\"))[^>]*>", text
        ), template
        assert not re.search(r"\son[a-z]+\s*=", text), template


SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(SECRET_KEY|CLIENT_SECRET|PASSWORD)\s*=\s*['\"][^'\"]{8,}['\"]"),
    re.compile(r"amqps?://(?!guest:guest@)[^:/\s]+:(?!\*+@)[^@\s]+@"),
    re.compile(r"postgresql://[^:/\s]+:(?!\*+@)[^@\s]+@"),  # ******** marks a blank to fill
]


def test_the_repository_holds_no_secrets():
    """Code, configuration, manifests and docs; the tests' throw-away credentials excepted."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in files:
        path = REPO_ROOT / name
        if name.startswith("tests/") or not path.is_file() or path.suffix in (".png", ".mo"):
            continue
        text = path.read_text(errors="ignore")
        found += [f"{name}: {m.group(0)[:60]}" for p in SECRET_PATTERNS for m in p.finditer(text)]
    assert not found, found


def test_refused_characters_are_a_client_error_before_any_service_sees_them(gateway_app):
    client = gateway_app.test_client()
    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        from sqlalchemy import select

        from gateway.auth import identity
        from gateway.models import User

        token = identity.issue_token(
            uow.session,
            uow.session.scalar(select(User).where(User.username == "pat")),
            days=1,
            max_days=1,
        )
    bearer = {"Authorization": f"Bearer {token}"}
    body = client.post(
        "/api/v1/deposits",
        headers=bearer,
        json={
            "profile_id": "x",
            "metadata": {
                "title": "a\x00b",
                "creators": [{"name": "\x0b"}],
                "keywords": ["\u2066"],
                "abstract\x0c": "x",
            },
        },
    )
    assert body.status_code == 422
    assert body.get_json()["error"]["fields"] == {
        "metadata.title": ["contains a character XML cannot carry (U+0000)"],
        "metadata.creators[0].name": ["contains a character XML cannot carry (U+000B)"],
        "metadata.keywords[0]": ["contains a bidirectional override (U+2066)"],
        "metadata.abstract\x0c": ["its name contains a character XML cannot carry (U+000C)"],
    }
    query = client.get("/api/v1/deposits?status=a%00", headers=bearer)
    assert query.status_code == 422 and "status" in query.get_json()["error"]["fields"]
    path = client.get("/api/v1/deposits/abc%00def", headers=bearer)
    assert path.status_code == 422


def test_a_malformed_multipart_body_is_a_client_error():
    """Found by schemathesis: werkzeug's decoder refuses it with a ValueError, once a 500."""
    import io

    import pytest

    from gateway.files.uploads import MultipartUpload
    from kernel.contracts.exceptions import InvalidInput

    boundary = "a222103b9b30b1f9e8be6882ecedb1d2"
    body = f"--{boundary}\r\n[]--{boundary}--\r\n".encode()
    upload = MultipartUpload(io.BytesIO(body), f"multipart/form-data; boundary={boundary}", 100)
    with pytest.raises(InvalidInput) as refused:
        upload.open()
    assert refused.value.fields == {"file": ["malformed multipart body"]}


def test_a_display_name_from_oidc_claims_is_cleaned_to_one_line(gateway_app):
    """The identity provider's words cannot be refused, so what the text rule refuses is
    dropped: a line break or a bidirectional override never reaches a letter header."""
    from gateway.auth.identity import ClaimMapping, provision_user

    with gateway_app.extensions["lodge.database"].unit_of_work() as uow:
        user = provision_user(
            uow.session,
            "https://idp.example",
            "s1",
            {
                "sub": "s1",
                "name": "Jo\r\nBcc: all@example.edu\u202e\x0b",
                "email": "jo@x.edu\n",
                "preferred_username": "jo",
            },
            ClaimMapping(),
        )
        assert (user.name, user.email) == ("Jo Bcc: all@example.edu", "jo@x.edu")
