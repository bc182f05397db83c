"""A whole Lodge with every process on its own broker account (`lodge broker-users`):
the least each may do is enough for deposits to flow, RPC between services included."""

import pytest

from tests.e2e.test_lifecycles import (
    make_thesis_in_review,
    pdf_bytes,
    unique_title,
    work_metadata,
)
from tests.support.system import LodgeSystem, expect, poll_until

PROCESSES = ("gateway", "intake", "validation", "approval", "letters", "inventory", "inbox")


@pytest.fixture(scope="module")
def own_accounts_lodge():
    with LodgeSystem("postgresql", label="accounts", own_broker_accounts=True) as system:
        yield system


def test_a_deposit_flows_to_archived_with_every_process_on_its_own_account(own_accounts_lodge):
    lodge = own_accounts_lodge
    accounts = {f"lodge-{process}-{lodge.run_id}" for process in PROCESSES}
    # the management API lists connections as of its last statistics round: the harness's
    # own readiness check (as guest) shows there until the next
    poll_until(
        lambda: lodge.broker_connections() == accounts,
        description="only the processes' own accounts connected",
    )
    student = lodge.client("student")
    title = unique_title("own accounts")
    deposit = student.create_deposit("open-works", work_metadata(title))
    student.upload(deposit["id"], "work.pdf", pdf_bytes(title))
    student.submit(deposit["id"])
    archived = lodge.wait_for_status(student, deposit["id"], "archived", timeout=60)
    item = expect(student.get(f"/api/v1/items/{archived['item_id']}"), 200)
    assert item["record"]["title"] == [title]


def test_approving_and_withdrawing_work_across_services_on_their_own_accounts(own_accounts_lodge):
    """An approver's decision (approval → inventory, intake) and a withdrawal (intake calls
    approval.cancel_review over RPC) on the least permissions."""
    lodge = own_accounts_lodge
    student, approver = lodge.client("student"), lodge.client("approver")
    approved = make_thesis_in_review(lodge, student, approver, "approved, own accounts")
    expect(
        approver.post(f"/api/v1/reviews/{approved['id']}/actions/approve", json={"note": "Fine."}),
        200,
    )
    lodge.wait_for_status(student, approved["id"], "archived", timeout=60)
    withdrawn = make_thesis_in_review(lodge, student, approver, "withdrawn, own accounts")
    after = expect(
        student.post(
            f"/api/v1/deposits/{withdrawn['id']}/actions/withdraw", json={"note": "Too early."}
        ),
        200,
    )
    assert after["status"] == "withdrawn"
    # each service consumes its dead-letter queue on its own account: none waits or is parked
    assert lodge.dead_letters() == dict.fromkeys(
        ("intake", "validation", "approval", "letters", "inventory"), 0
    )
    assert "ACCESS_REFUSED" not in lodge.log_text()  # no refusal hidden by a retry
