"""A whole Lodge with every process on its own broker account (`lodge broker-users`):
the least each may do is enough for deposits to flow."""
import pytest

from tests.e2e.test_lifecycles import pdf_bytes, unique_title, work_metadata
from tests.support.system import LodgeSystem, expect


@pytest.fixture(scope="module")
def own_accounts_lodge():
    with LodgeSystem("postgresql", label="accounts", own_broker_accounts=True) as system:
        yield system


def test_a_deposit_flows_to_archived_with_every_process_on_its_own_account(own_accounts_lodge):
    connections = own_accounts_lodge.broker_connections()
    assert connections == {f"lodge-{process}-{own_accounts_lodge.run_id}"
                           for process in ("gateway", "intake", "validation", "approval",
                                           "letters", "inventory")}, connections
    student = own_accounts_lodge.client("student")
    title = unique_title("own accounts")
    deposit = student.create_deposit("open-works", work_metadata(title))
    student.upload(deposit["id"], "work.pdf", pdf_bytes(title))
    student.submit(deposit["id"])
    archived = own_accounts_lodge.wait_for_status(student, deposit["id"], "archived", timeout=60)
    item = expect(student.get(f"/api/v1/items/{archived['item_id']}"), 200)
    assert item["record"]["title"] == [title]
    assert own_accounts_lodge.queues()["lodge.dead-letter.inventory"]["messages"] == 0
