"""The gateway as browsers and campus systems meet it: sessions, CSRF, uploads, headers."""

import base64
import hashlib
import re

import requests

from tests.support.system import csrf_token, expect, signed_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
OPEN_WORK = {
    "title": "Tidal patterns",
    "creators": [{"name": "Sam Student"}],
    "abstract": "Tides.",
    "date": "2026",
}
THESIS = {**OPEN_WORK, "degree": "Master"}


def test_sign_in_sets_a_safe_session_cookie_and_shows_my_deposits(lodge_system):
    browser = requests.Session()
    page = browser.get(f"{lodge_system.base_url}/login", timeout=30)
    response = browser.post(
        f"{lodge_system.base_url}/login",
        allow_redirects=False,
        timeout=30,
        data={"username": "student", "password": "demo", "csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    home = browser.get(f"{lodge_system.base_url}/", timeout=30)
    assert home.status_code == 200 and "My deposits" in home.text


def test_wrong_password_and_missing_csrf_do_not_sign_in(lodge_system):
    browser = requests.Session()
    page = browser.get(f"{lodge_system.base_url}/login", timeout=30)
    wrong = browser.post(
        f"{lodge_system.base_url}/login",
        timeout=30,
        allow_redirects=False,
        data={"username": "student", "password": "nope", "csrf_token": csrf_token(page.text)},
    )
    assert wrong.status_code == 401 and "do not match" in wrong.text
    forged = requests.post(
        f"{lodge_system.base_url}/login",
        timeout=30,
        allow_redirects=False,
        data={"username": "student", "password": "demo"},
    )
    assert forged.status_code == 400
    # still signed out: a page for signed-in people sends the browser to sign in
    assert (
        browser.get(
            f"{lodge_system.base_url}/account/tokens", allow_redirects=False, timeout=30
        ).status_code
        == 302
    )


def test_a_session_needs_the_csrf_token_to_change_anything(lodge_system):
    browser = signed_in(lodge_system, "student")
    api = f"{lodge_system.base_url}/api/v1"
    assert browser.get(f"{api}/profiles", timeout=30).status_code == 200
    before = browser.get(f"{api}/deposits", timeout=30).json()["total"]
    body = {"profile_id": "open-works", "metadata": OPEN_WORK}
    refused = browser.post(f"{api}/deposits", json=body, timeout=30)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert browser.get(f"{api}/deposits", timeout=30).json()["total"] == before
    token = csrf_token(browser.get(f"{lodge_system.base_url}/", timeout=30).text)
    created = browser.post(f"{api}/deposits", json=body, headers={"X-CSRFToken": token}, timeout=30)
    assert created.status_code == 201


def test_file_names_are_sanitised_and_stored_under_generated_names(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    names = {
        "../../../etc/passwd.pdf": "passwd.pdf",
        "re\x00port\x07.pdf": "report.pdf",
        ".hidden.pdf": "hidden.pdf",
        "Thèse finale.pdf": "Thèse finale.pdf",
    }
    for sent, kept in names.items():
        assert student.upload(deposit["id"], sent, PDF)["filename"] == kept
    # too long for a URL: names of any length go by multipart
    long_name = "a" * 5000 + ".pdf"
    created = expect(
        student.post(
            f"/api/v1/deposits/{deposit['id']}/files",
            files={"file": (long_name, PDF, "application/pdf")},
        ),
        201,
    )
    assert created["filename"] == "a" * 251 + ".pdf"
    names[long_name] = created["filename"]
    staged = lodge_system.data_dir / "storage" / "staging" / deposit["id"]
    stored = list(staged.iterdir())
    assert len(stored) == len(names)
    assert all(re.fullmatch(r"[0-9a-f]{32}", p.name) for p in stored)


def test_an_upload_whose_checksum_differs_is_refused_and_nothing_is_kept(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    response = student.post(
        f"/api/v1/deposits/{deposit['id']}/files",
        params={"filename": "a.pdf"},
        data=PDF,
        headers={"Digest": f"sha-256={wrong}"},
    )
    error = expect(response, 422)["error"]
    assert error["fields"] == {"sha256": ["does not match the uploaded bytes"]}
    right = base64.b64encode(hashlib.md5(PDF).digest()).decode()
    ok = student.post(
        f"/api/v1/deposits/{deposit['id']}/files",
        params={"filename": "a.pdf"},
        data=PDF,
        headers={"Content-MD5": right},
    )
    assert expect(ok, 201)["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert len(student.deposit(deposit["id"])["files"]) == 1
    staged = lodge_system.data_dir / "storage" / "staging" / deposit["id"]
    assert len(list(staged.iterdir())) == 1


def test_multipart_upload_streams_the_file_part(lodge_system):
    student = lodge_system.client("student")
    deposit = student.create_deposit("open-works", OPEN_WORK)
    response = student.post(
        f"/api/v1/deposits/{deposit['id']}/files",
        data={"note": "first"},
        files={"file": ("moss.pdf", PDF, "application/pdf")},
    )
    created = expect(response, 201)
    assert created["filename"] == "moss.pdf" and created["size"] == len(PDF)
    assert created["media_type"] == "application/pdf"
    missing = student.post(
        f"/api/v1/deposits/{deposit['id']}/files",
        files={"other": ("x.pdf", PDF, "application/pdf")},
    )
    assert expect(missing, 422)["error"]["fields"] == {"file": ["is required"]}
    assert len(student.deposit(deposit["id"])["files"]) == 1


def test_staff_deposit_on_behalf_of_a_patron_skips_approval(lodge_system):
    staff = lodge_system.client("staff")
    deposit = staff.create_deposit("thesis", THESIS, on_behalf_of="student")
    assert deposit["depositor"]["email"] == "student@example.edu"
    staff.upload(deposit["id"], "thesis.pdf", PDF)
    staff.submit(deposit["id"])
    archived = lodge_system.wait_for_status(staff, deposit["id"], "archived")
    approved = next(h for h in archived["history"] if h["to_status"] == "approved")
    assert approved["reason_code"] == "staff_mediated"
    assert approved["note"] == "Staff-mediated by Robin Staff"
    student = lodge_system.client("student")
    mine = expect(student.get("/api/v1/deposits", params={"status": "archived"}), 200)["items"]
    assert deposit["id"] in [d["id"] for d in mine]
    patron = lodge_system.client("faculty")
    refused = patron.post(
        "/api/v1/deposits",
        json={"profile_id": "open-works", "metadata": {}, "on_behalf_of": "student"},
    )
    assert expect(refused, 403)["error"]["fields"] == {"on_behalf_of": ["needs the staff role"]}


def test_every_response_carries_the_security_headers(lodge_system):
    for path in ("/login", "/api/v1/openapi.json", "/api/v1/nothing-here", "/healthz"):
        response = requests.get(f"{lodge_system.base_url}{path}", timeout=30)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    missing = requests.get(f"{lodge_system.base_url}/api/v1/nothing-here", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_health_readiness_and_metrics(lodge_system):
    assert requests.get(f"{lodge_system.base_url}/healthz", timeout=30).json() == {"status": "ok"}
    assert requests.get(f"{lodge_system.base_url}/readyz", timeout=30).json() == {"status": "ready"}
    metrics_url = f"{lodge_system.base_url}/metrics"
    assert requests.get(metrics_url, timeout=30).status_code == 401
    assert (
        requests.get(
            metrics_url, timeout=30, headers={"Authorization": "Bearer lodge_not-it"}
        ).status_code
        == 401
    )
    metrics = requests.get(
        metrics_url,
        timeout=30,
        headers={"Authorization": f"Bearer {lodge_system.env['LODGE_METRICS_TOKEN']}"},
    ).text
    assert "lodge_http_requests_total" in metrics


def test_anonymous_api_calls_are_refused_with_401(lodge_system):
    response = requests.get(f"{lodge_system.base_url}/api/v1/deposits", timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    bad_token = requests.get(
        f"{lodge_system.base_url}/api/v1/deposits",
        timeout=30,
        headers={"Authorization": "Bearer lodge_not-a-token"},
    )
    assert bad_token.status_code == 401
