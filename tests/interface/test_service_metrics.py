"""A service's metrics, scraped over HTTP from its metrics port as Prometheus scrapes them:
events handled by outcome, handler times, retries, dead letters by reason, RPCs, the outbox
gauges; and the port answers only Prometheus, while the service's workers run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import ClassVar

import eventlet
import pytest
import requests
from kombu import Connection, Exchange
from nameko.amqp.publish import Publisher
from nameko.exceptions import RemoteError
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ClusterRpcClient

from kernel.contracts.events import dedupe_key, new_event
from kernel.contracts.exceptions import NotFound, RefusedMessage
from kernel.platform.db import Database, OutboxMessage, utcnow
from kernel.platform.messaging import handles_event, rpc
from kernel.platform.metrics import _QuietHandler, serve
from lodge.topology import declare
from services.intake.service import IntakeService
from tests.support.prometheus import Samples, scrape
from tests.support.system import REPO_ROOT, free_port, poll_until

TOKEN = "metrics-" + uuid.uuid4().hex
SERVICE = "metered"
EVENT = "deposit_withdrawn"
ERROR_KEYS = {"code", "message", "fields"}


class Metered:
    """Handles withdrawals as told by the deposit id: `fail-…` always raises, `refuse-…` is
    refused, `wait-…` waits for the test; each is recorded as handled once."""

    name = SERVICE
    database: Database | None = None
    release = eventlet.event.Event()
    waiting: ClassVar[list[str]] = []

    @handles_event("intake", EVENT)
    def on_withdrawn(self, event):
        deposit_id = event["deposit_id"]
        if deposit_id.startswith("fail-"):
            raise RuntimeError(f"storage unavailable for {deposit_id}")
        if deposit_id.startswith("refuse-"):
            raise RefusedMessage(f"{deposit_id} names files it may not touch")
        if deposit_id.startswith("wait-"):
            Metered.waiting.append(deposit_id)
            Metered.release.wait()
        with Metered.database.unit_of_work() as uow:
            uow.first_time(dedupe_key("intake", EVENT, event))

    @rpc
    def double(self, number):
        return number * 2

    @rpc
    def refuse(self):
        raise NotFound("There is no such thing.")

    @rpc
    def crash(self):
        raise RuntimeError("the disk is gone")


@pytest.fixture
def metered(broker, migrated, container_factory):
    """The Metered service, running, with a database for its handled-event keys."""
    declare(broker["AMQP_URI"], [Metered])
    Metered.database = Database(migrated("approval"), "approval")
    Metered.release = eventlet.event.Event()
    Metered.waiting = []
    container = container_factory(Metered, broker)
    container.start()
    yield container
    if not Metered.release.ready():
        Metered.release.send(True)
    Metered.database.dispose()


@pytest.fixture
def metrics_url():
    """/metrics served as `lodge service` serves it, on a free port of this machine."""
    bind = f"127.0.0.1:{free_port()}"
    server = serve(bind, TOKEN)
    yield f"http://{bind}/metrics"
    server.shutdown()
    server.server_close()


def publish(amqp_uri: str, deposit_id: str, event_id: str | None = None) -> None:
    payload = new_event(
        "intake", EVENT, deposit_id=deposit_id, revision=1, actor={"id": "u1", "name": "Sam"}
    )
    if event_id:
        payload["event_id"] = event_id
    Publisher(amqp_uri).publish(payload, exchange=get_event_exchange("intake"), routing_key=EVENT)


def handled(samples: Samples, outcome: str) -> float:
    return samples.value(
        "lodge_events_handled_total", service=SERVICE, event=EVENT, outcome=outcome
    )


def dead(samples: Samples, kind: str) -> float:
    return samples.value("lodge_dead_letters_total", service=SERVICE, reason_kind=kind)


def changes(before: Samples, after: Samples, measure) -> float:
    return measure(after) - measure(before)


def scrape_until(url: str, condition, description: str) -> Samples:
    def satisfied() -> Samples | None:
        samples = scrape(url, TOKEN)
        return samples if condition(samples) else None

    return poll_until(satisfied, timeout=20, description=description)


def test_outcomes_retries_dead_letters_and_handler_times_are_counted(metered, broker, metrics_url):
    before = scrape(metrics_url, TOKEN)
    uri = broker["AMQP_URI"]
    event_id = uuid.uuid4().hex
    publish(uri, "ok-1", event_id)
    publish(uri, "ok-1", event_id)  # the same event again: found already handled
    publish(uri, "fail-1")  # three attempts (LODGE_HANDLER_MAX_ATTEMPTS), then dead
    publish(uri, "refuse-1")
    Publisher(uri).publish(
        {"deposit_id": "broken"}, exchange=get_event_exchange("intake"), routing_key=EVENT
    )
    Publisher(uri).publish(
        b"\xff\xfe not json",
        exchange=get_event_exchange("intake"),
        routing_key=EVENT,
        serializer=None,
        content_type="application/json",
        content_encoding="binary",
    )
    after = scrape_until(
        metrics_url,
        lambda s: (
            changes(before, s, lambda x: handled(x, "dead_lettered")) >= 4
            and changes(before, s, lambda x: handled(x, "ok") + handled(x, "duplicate")) >= 2
        ),
        "every delivery settled",
    )

    def delta(measure) -> float:
        return changes(before, after, measure)

    assert delta(lambda s: handled(s, "ok")) == 1
    assert delta(lambda s: handled(s, "duplicate")) == 1
    assert delta(lambda s: handled(s, "retried")) == 2
    assert delta(lambda s: handled(s, "dead_lettered")) == 4
    assert delta(lambda s: s.value("lodge_event_retries_total", service=SERVICE, event=EVENT)) == 2
    assert delta(lambda s: dead(s, "failed")) == 1
    assert delta(lambda s: dead(s, "refused")) == 1
    assert delta(lambda s: dead(s, "contract")) == 1
    assert delta(lambda s: dead(s, "undecodable")) == 1
    assert delta(lambda s: dead(s, "delivery_limit")) == 0
    # every kind of dead letter has its series from the start, so increase() sees the first
    for kind in ("failed", "contract", "undecodable", "refused", "delivery_limit"):
        assert after.has("lodge_dead_letters_total", service=SERVICE, reason_kind=kind)
    # the handler ran twice for the two handled deliveries, three times for the failing one
    # and once for the refused one: the contract and decoding failures never reached it
    runs = delta(
        lambda s: s.value("lodge_event_handler_seconds_count", service=SERVICE, event=EVENT)
    )
    assert runs == 6
    assert (
        delta(
            lambda s: s.value(
                "lodge_event_handler_seconds_bucket", service=SERVICE, event=EVENT, le="+Inf"
            )
        )
        == runs
    )
    assert (
        delta(lambda s: s.value("lodge_event_handler_seconds_sum", service=SERVICE, event=EVENT))
        > 0
    )


def test_rpcs_are_timed_and_counted_by_outcome(metered, broker, metrics_url):
    before = scrape(metrics_url, TOKEN)
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=10) as client:
        assert client.metered.double(number=21) == 42
        assert client.metered.double(number=1) == 2
        with pytest.raises(NotFound):
            client.metered.refuse()
        with pytest.raises(RemoteError, match="RuntimeError"):
            client.metered.crash()
    after = scrape(metrics_url, TOKEN)

    def calls(method: str, outcome: str, samples: Samples) -> float:
        return samples.value(
            "lodge_rpc_calls_total", service=SERVICE, method=method, outcome=outcome
        )

    assert calls("double", "ok", after) - calls("double", "ok", before) == 2
    assert calls("refuse", "refused", after) - calls("refuse", "refused", before) == 1
    assert calls("crash", "error", after) - calls("crash", "error", before) == 1
    assert calls("crash", "ok", after) == 0
    timed = "lodge_rpc_seconds_count"
    assert (
        after.value(timed, service=SERVICE, method="double")
        - before.value(timed, service=SERVICE, method="double")
        == 2
    )


def test_metrics_are_served_while_a_worker_runs(metered, broker, metrics_url):
    """The port's server is a green thread beside the workers: a handler that is waiting
    does not hold up a scrape, and its run counts once it ends."""
    before = scrape(metrics_url, TOKEN)
    publish(broker["AMQP_URI"], "wait-1")
    poll_until(lambda: Metered.waiting, description="the handler to start waiting")
    during = scrape(metrics_url, TOKEN)
    assert handled(during, "ok") == handled(before, "ok")
    Metered.release.send(True)
    scrape_until(
        metrics_url, lambda s: handled(s, "ok") == handled(before, "ok") + 1, "the handler ended"
    )


def test_the_outbox_gauges_show_a_backlog_that_cannot_drain_and_then_drains(
    container_factory, broker, intake_db, metrics_url
):
    """With its exchange gone the relay cannot publish: the backlog and the age of its
    oldest row show it; once the exchange is back the outbox drains and both go to 0."""
    uri = broker["AMQP_URI"]
    with Connection(uri) as connection:
        Exchange("intake.events", type="topic").bind(connection.default_channel).delete()
    written = utcnow() - timedelta(hours=1)
    database = Database(intake_db, "intake")
    with database.unit_of_work() as uow:
        for number in range(3):
            payload = new_event(
                "intake", EVENT, deposit_id=f"d{number}", revision=1, actor={"id": "u1"}
            )
            uow.session.add(OutboxMessage(event_type=EVENT, payload=payload, created_at=written))
    database.dispose()
    container_factory(IntakeService, broker).start()

    def outbox(samples: Samples) -> tuple[float, float]:
        return (
            samples.value("lodge_outbox_backlog", service="intake"),
            samples.value("lodge_outbox_oldest_seconds", service="intake"),
        )

    stuck = scrape_until(metrics_url, lambda s: outbox(s)[0] == 3, "the backlog to show")
    assert outbox(stuck)[1] >= 3600
    declare(uri)  # the exchange is back
    drained = scrape_until(metrics_url, lambda s: outbox(s) == (0, 0), "the outbox to drain")
    assert outbox(drained) == (0, 0)


def test_the_metrics_port_answers_prometheus_only(metrics_url):
    good = scrape(metrics_url, TOKEN)
    assert good.has("lodge_outbox_backlog") or "lodge_events_handled" in good.families
    base = metrics_url.removesuffix("/metrics")
    refused = [
        requests.get(metrics_url, timeout=10),
        requests.get(metrics_url, headers={"Authorization": "Bearer wrong"}, timeout=10),
        requests.get(metrics_url, headers={"Authorization": f"Basic {TOKEN}"}, timeout=10),
        requests.get(metrics_url, headers={"Authorization": f"Bearer {TOKEN}x"}, timeout=10),
        requests.get(metrics_url, headers={"Authorization": f"Bearer {TOKEN[:-1]}"}, timeout=10),
        requests.get(
            metrics_url,
            headers={"Authorization": "Bearer \x01\x7f" + "é".encode().decode("latin-1")},
            timeout=10,
        ),
        requests.get(metrics_url, headers={"Authorization": "Bearer " + "t" * 60_000}, timeout=10),
    ]
    for response in refused:
        assert response.status_code == 401, response.text
        assert set(response.json()["error"]) == ERROR_KEYS
        assert response.headers["WWW-Authenticate"] == "Bearer"
    header = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/metrics/", "/metrics/../metrics%00", "/healthz", "/%2e%2e/etc/passwd"):
        answer = requests.get(base + path, headers=header, timeout=10)
        assert answer.status_code == 404 and set(answer.json()["error"]) == ERROR_KEYS, path
    posted = requests.post(metrics_url, headers=header, data=b"x" * 1_000_000, timeout=10)
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"
    # a name filter of any size or shape only narrows what comes back
    filtered = requests.get(
        metrics_url,
        headers=header,
        params={"name[]": ["lodge_outbox_backlog", "x" * 5000, "\x00", "{}[]"]},
        timeout=10,
    )
    assert filtered.status_code == 200 and "lodge_rpc_seconds" not in filtered.text


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /metrics?" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /metrics HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /metrics HTTP/1.1\r\n" + b"X-Many: c\r\n" * 200 + b"\r\n", 431),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n", 400),
    ],
)
def test_oversize_and_garbled_requests_are_refused(metrics_url, request_bytes, status):
    host, port = metrics_url.split("/")[2].split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request_bytes)
        while chunk := sock.recv(4096):
            answer += chunk
    # a request line that is not HTTP gets an answer without a status line, as HTTP/0.9 did
    assert f"Error code: {status}".encode() in answer, answer


def test_an_idle_connection_does_not_hold_the_port(metrics_url, monkeypatch):
    """A client that connects and sends nothing is let go; meanwhile others are served."""
    # the server's 10 s wait for a request, shortened to keep the test short
    monkeypatch.setattr(_QuietHandler, "timeout", 1)
    host, port = metrics_url.split("/")[2].split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=30) as idle:
        scrape(metrics_url, TOKEN)
        assert idle.recv(100) == b""  # closed by the server, not by the 30 s timeout
    assert time.monotonic() - started < 5  # by the shortened wait


def lodge(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lodge", *args],
        cwd=REPO_ROOT,
        env={"PATH": os.environ["PATH"], "LODGE_METRICS_TOKEN": TOKEN, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_lodge_run_refuses_five_services_on_one_metrics_address(tmp_path):
    result = lodge(
        "run",
        LODGE_DATA_DIR=str(tmp_path),
        LODGE_METRICS_BIND="127.0.0.1:9100",
        LODGE_METRICS_BIND_INTAKE="127.0.0.1:9101",
        # nothing listens here: were the addresses let through, it would fail on this instead
        LODGE_AMQP_URI="amqp://guest:guest@127.0.0.1:1/",
    )
    assert result.returncode == 1
    assert "cannot share one metrics address" in result.stderr
    assert not (tmp_path / "intake.db").exists()


def test_a_service_whose_metrics_address_is_taken_does_not_start(tmp_path, rabbit_vhost):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        result = lodge(
            "service",
            "intake",
            LODGE_DATA_DIR=str(tmp_path),
            LODGE_AMQP_URI=rabbit_vhost,
            LODGE_METRICS_BIND_INTAKE=bind,
        )
    assert result.returncode == 1
    assert f"cannot serve /metrics on {bind}" in result.stderr
    assert "service started" not in result.stderr
