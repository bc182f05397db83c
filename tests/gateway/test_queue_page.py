"""The review queue page with counts past their limit: it says "more than", and its Next link
follows whether another page exists, not the count. Approval's answers are stubbed."""

import pytest

from kernel.contracts.approval import QUEUE_COUNT_LIMIT
from tests.gateway.conftest import sign_in
from tests.support.stub_services import Pool

TASK = {
    "deposit_id": "d1",
    "revision": 1,
    "state": "open",
    "title": "A queued thesis",
    "profile_id": "thesis",
    "depositor": {"id": "u-1", "name": "Sam Student", "email": "", "locale": "en"},
    "assignee": None,
    "created_at": "2026-12-01T10:00:00+00:00",
    "due_at": None,
    "overdue": False,
    "own_deposit": False,
}


def queue_page(gateway_app, queue: dict, failing_files: int = 0, reasons=()) -> str:
    gateway_app.extensions["lodge.rpc"] = Pool(
        {
            "approval.queue": queue,
            "approval.list_reasons": list(reasons),
            "intake.list_profiles": [{"id": "thesis", "name": "Thesis"}],
            "inventory.list_collections": [],
            "inventory.fixity_failures": failing_files,
        }
    )
    client = gateway_app.test_client()
    sign_in(client, "alex")
    response = client.get("/staff/queue")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def page_of(total: int, has_more: bool, overdue: int = 0) -> dict:
    counts = {"mine": 0, "unassigned": total, "others": 0, "all": total, "overdue": overdue}
    return {
        "items": [TASK],
        "page": 1,
        "per_page": 25,
        "total": total,
        "counts": counts,
        "count_limit": QUEUE_COUNT_LIMIT,
        "has_more": has_more,
        "reasons": [
            {"kind": "return", "code": "wrong_file", "label": "Wrong file", "is_default": False},
            {"kind": "decline", "code": "scope", "label": "Out of scope", "is_default": True},
        ],
    }


@pytest.mark.parametrize("has_more", [True, False])
def test_a_count_past_its_limit_reads_more_than_and_next_follows_has_more(gateway_app, has_more):
    html = queue_page(gateway_app, page_of(QUEUE_COUNT_LIMIT + 1, has_more, QUEUE_COUNT_LIMIT + 1))
    assert f"{QUEUE_COUNT_LIMIT}+</span>" in html
    assert f"more than {QUEUE_COUNT_LIMIT} deposits · page 1</caption>" in html
    assert f"more than {QUEUE_COUNT_LIMIT} overdue" in html
    assert str(QUEUE_COUNT_LIMIT + 1) not in html
    assert ('rel="next"' in html) is has_more


def test_an_exact_count_gives_the_number_of_pages(gateway_app):
    html = queue_page(gateway_app, page_of(30, True))
    assert "30 deposits · page 1 of 2</caption>" in html
    assert 'rel="next"' in html and "more than" not in html
    html = queue_page(gateway_app, page_of(1, False))
    assert "1 deposit · page 1 of 1</caption>" in html and 'rel="next"' not in html


def test_the_menus_fixity_count_is_asked_with_the_queue_not_after_it(gateway_app):
    html = queue_page(gateway_app, page_of(1, False), failing_files=3)
    assert '<span class="alert-count" aria-label="3 files failed">3</span>' in html
    calls = gateway_app.extensions["lodge.rpc"].calls
    assert ("inventory.fixity_failures", "asked at once") in calls
    assert all(how == "asked at once" for _, how in calls), calls


def test_the_bulk_decisions_offer_the_reasons_that_came_with_the_queue(gateway_app):
    html = queue_page(gateway_app, page_of(1, False))
    assert '<option value="wrong_file" >Wrong file</option>' in html
    assert '<option value="scope" selected>Out of scope (default)</option>' in html
    names = [name for name, _ in gateway_app.extensions["lodge.rpc"].calls]
    assert "approval.list_reasons" not in names  # one question to approval for the page


def test_an_approval_without_reasons_in_its_queue_is_asked_for_them(gateway_app):
    """During a rolling update the approval answering may be one from before."""
    older = {key: value for key, value in page_of(1, False).items() if key != "reasons"}
    table = [{"kind": "return", "code": "late", "label": "Too late", "is_default": True}]
    html = queue_page(gateway_app, older, reasons=table)
    assert '<option value="late" selected>Too late (default)</option>' in html
    assert ("approval.list_reasons", "waited for") in gateway_app.extensions["lodge.rpc"].calls
