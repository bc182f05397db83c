"""The gateway's side of usage statistics, on its real database: what a request holds
(robots nothing), what leaves the process (hashes, never an address or a user agent), a
batch sent again with its id after a failure, and what is held sent at a graceful stop.
Inventory is stood in for by a recorder of the batches it would get."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from flask import Flask, g
from sqlalchemy import select

from gateway.files.downloads import starts_a_download
from gateway.http.usage import (
    EXTENSION,
    Seen,
    UsageRecorder,
    count_download,
    count_view,
    stop,
)
from gateway.models import UsageSalt
from gateway.rpc import BrokerUnavailable
from tests.support.system import poll_until

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Inventory:
    """Takes batches as inventory.record_usage would; the first `failures` sends fail."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[dict] = []

    @contextlib.contextmanager
    def client(self):
        yield SimpleNamespace(inventory=SimpleNamespace(record_usage=self.record_usage))

    def record_usage(self, batch_id, hits):
        self.batches.append({"batch_id": batch_id, "hits": hits})
        if self.failures:
            self.failures -= 1
            raise BrokerUnavailable("the broker cannot be reached")


@pytest.fixture
def database(gateway_app):
    return gateway_app.extensions["lodge.database"]


def recorder(database, inventory, batch_size=500) -> UsageRecorder:
    # a long flush interval: the tests decide when batches go
    return UsageRecorder(inventory, database, flush_seconds=3600, batch_size=batch_size)


def seen(who: str, at: datetime = NOW, kind="investigation") -> Seen:
    return Seen(kind, "item1", "file1" if kind == "request" else None, who, at)


def test_what_is_held_goes_at_a_graceful_stop_as_hashes_only(database):
    inventory = Inventory()
    usage = recorder(database, inventory)
    usage.hold(seen(f"addr:192.0.2.7\0{CHROME}"))
    usage.hold(seen(f"addr:192.0.2.7\0{CHROME}", kind="request"))
    usage.hold(seen("user:u-faculty"))
    usage.stop()
    [batch] = inventory.batches
    assert re.fullmatch(r"[0-9a-f]{32}", batch["batch_id"])
    first, second, third = batch["hits"]
    assert first["user"] == second["user"] != third["user"]
    text = repr(batch)
    assert "192.0.2.7" not in text and "Chrome" not in text and "u-faculty" not in text
    assert second == {
        "kind": "request",
        "item_id": "item1",
        "file_id": "file1",
        "user": first["user"],
        "at": NOW.isoformat(),
    }


def test_a_failed_batch_is_sent_again_with_its_id_and_nothing_is_lost(database):
    inventory = Inventory(failures=2)
    usage = UsageRecorder(inventory, database, flush_seconds=0.01, batch_size=2)
    for n in range(3):
        usage.hold(seen(f"user:{n}"))
    poll_until(lambda: len(inventory.batches) == 4, timeout=10, description="four sends")
    usage.stop()
    ids = [batch["batch_id"] for batch in inventory.batches]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert [len(batch["hits"]) for batch in inventory.batches] == [2, 2, 2, 1]


def test_the_salt_is_shared_changes_daily_and_yesterdays_goes(database):
    one, two = Inventory(), Inventory()
    tomorrow = NOW + timedelta(days=1)
    first, second = recorder(database, one), recorder(database, two)
    first.hold(seen("user:u1"))
    second.hold(seen("user:u1"))
    second.hold(seen("user:u1", at=tomorrow))
    first.stop()
    second.stop()
    today_hash = one.batches[0]["hits"][0]["user"]
    assert two.batches[0]["hits"][0]["user"] == today_hash  # another gateway, the same hash
    assert two.batches[0]["hits"][1]["user"] != today_hash  # the next day, another
    with database.reading() as session:
        assert list(session.scalars(select(UsageSalt.day))) == [date(2026, 6, 2)]


def test_a_request_holds_people_and_leaves_robots_out(gateway_app, database):
    inventory = Inventory()
    usage = gateway_app.extensions[EXTENSION] = recorder(database, inventory)
    for agent in (CHROME, "Mozilla/5.0 (compatible; Googlebot/2.1)", "curl/8.5.0", ""):
        with gateway_app.test_request_context(headers={"User-Agent": agent}):
            g.actor = None
            count_view("item1")
            count_download("item1", "file1")
    usage.stop()
    [batch] = inventory.batches
    assert [hit["kind"] for hit in batch["hits"]] == ["investigation", "request"]


@pytest.mark.parametrize(
    ("method", "headers", "status", "counts"),
    [
        ("GET", {}, 200, True),
        ("GET", {"Range": "bytes=0-99"}, 206, True),
        ("GET", {"Range": "bytes=100-"}, 206, False),  # the rest of a download
        ("GET", {"Range": "bytes=-100"}, 206, False),
        ("HEAD", {}, 200, False),
        ("GET", {"If-None-Match": '"abc"'}, 304, True),  # COUNTER counts 304 (7.1)
        ("GET", {}, 404, False),
    ],
)
def test_a_file_counts_once_however_it_is_fetched(method, headers, status, counts):
    with Flask(__name__).test_request_context(method=method, headers=headers):
        assert starts_a_download(status) is counts


def test_the_exit_hook_sends_what_is_held_and_minds_no_app(gateway_app, database):
    inventory = Inventory()
    usage = gateway_app.extensions[EXTENSION] = recorder(database, inventory)
    usage.hold(seen("user:u1"))
    stop(gateway_app)
    assert len(inventory.batches) == 1
    stop(None)  # gunicorn's master, for a worker that died: nothing loaded there
    stop(lambda environ, start_response: None)  # a worker whose app failed to load
