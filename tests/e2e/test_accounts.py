"""Accounts and tokens on a whole Lodge: owners are warned before a token expires, and a
deactivated approver gets no more staff letters nor reviews."""

from __future__ import annotations

import subprocess
import uuid

from tests.e2e.test_lifecycles import letters_to, pdf_bytes, thesis_metadata
from tests.support.system import REPO_ROOT, expect, poll_until


def _warn(lodge_system) -> str:
    result = subprocess.run(
        [lodge_system.python, "-m", "lodge", "warn-expiring-tokens"],
        cwd=REPO_ROOT,
        env=lodge_system.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_owner_of_a_token_that_expires_soon_gets_one_letter(lodge_system):
    name = f"harvest-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(
        [lodge_system.python, "-m", "lodge", "token", "faculty", "--name", name, "--days", "5"],
        cwd=REPO_ROOT,
        env=lodge_system.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert "warned the owners of" in _warn(lodge_system)

    def warnings():
        return [
            m
            for m in letters_to(lodge_system.mail_dir, "faculty@example.edu")
            if name in m["Subject"]
        ]

    [letter] = poll_until(warnings, description="the letter about the token")
    assert "expires on" in letter["Subject"]
    assert f"{lodge_system.base_url}/account/tokens" in letter.get_body(("plain",)).get_content()
    _warn(lodge_system)  # a second run finds it warned already
    assert len(warnings()) == 1


def test_a_deactivated_approver_gets_no_staff_letters_nor_reviews(lodge_system):
    admin, student = lodge_system.client("admin"), lodge_system.client("student")
    [ari] = [
        p
        for p in expect(admin.get("/api/v1/staff/patrons?q=approver2"), 200)["items"]
        if p["username"] == "approver2"
    ]
    expect(admin.patch(f"/api/v1/staff/accounts/{ari['id']}", json={"active": False}), 200)
    try:
        title = f"E2E deactivated {uuid.uuid4().hex[:8]}"
        deposit = student.create_deposit("thesis", thesis_metadata(title))
        student.upload(deposit["id"], "thesis.pdf", pdf_bytes(title))
        student.submit(deposit["id"])

        def about_it(address):
            return [m for m in letters_to(lodge_system.mail_dir, address) if title in m["Subject"]]

        # both approvers' letters are queued together: once Alex has his, Ari would have hers
        poll_until(lambda: about_it("approver@example.edu"), description="Alex's letter")
        assert about_it("approver2@example.edu") == []
        # nor can the review be handed to her
        colleagues = expect(
            lodge_system.client("approver").get(f"/api/v1/reviews/{deposit['id']}/colleagues"), 200
        )["items"]
        usernames = {person["username"] for person in colleagues}
        assert "approver" in usernames and "approver2" not in usernames
    finally:
        expect(admin.patch(f"/api/v1/staff/accounts/{ari['id']}", json={"active": True}), 200)
