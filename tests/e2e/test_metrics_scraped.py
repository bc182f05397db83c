"""Every Lodge process's metrics, scraped over HTTP as Prometheus scrapes them, from a Lodge
started with `lodge run`: each service on its own metrics port, the gateway with three
gunicorn workers whose counts /metrics adds up."""

from __future__ import annotations

import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.prometheus import Samples, scrape
from tests.support.system import SERVICE_NAMES, LodgeSystem, free_port, poll_until

API = "/api/v1"
GATEWAY_WORKERS = 3


@dataclass
class MeteredLodge:
    system: LodgeSystem
    metrics_urls: dict[str, str]  # by service
    tmp: Path  # the processes' TMPDIR, where the gateway keeps its workers' metric files

    @property
    def token(self) -> str:
        return self.system.env["LODGE_METRICS_TOKEN"]

    def scrape_gateway(self) -> Samples:
        return scrape(f"{self.system.base_url}/metrics", self.token)

    def scrape_all(self) -> dict[str, Samples]:
        found = {name: scrape(url, self.token) for name, url in self.metrics_urls.items()}
        found["gateway"] = self.scrape_gateway()
        return found


@pytest.fixture(scope="module")
def metered_lodge(tmp_path_factory):
    """A Lodge of its own, every service on a metrics port of its own."""
    tmp = tmp_path_factory.mktemp("lodge-tmp")
    ports = {name: free_port() for name in SERVICE_NAMES}
    env = {
        f"LODGE_METRICS_BIND_{name.upper()}": f"127.0.0.1:{port}" for name, port in ports.items()
    }
    env.update({"LODGE_GATEWAY_WORKERS": str(GATEWAY_WORKERS), "TMPDIR": str(tmp)})
    with LodgeSystem("postgresql", label="metrics", extra_env=env) as system:
        urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
        yield MeteredLodge(system, urls, tmp)


def work_metadata(title: str) -> dict:
    return {
        "title": title,
        "creators": [{"name": "Sam Student"}],
        "abstract": "An abstract long enough to describe the work.",
        "date": "2024-05-01",
    }


def pdf(label: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"% " + label.encode() + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def mail_count(system: LodgeSystem) -> int:
    return len(list(system.mail_dir.glob("*.eml"))) if system.mail_dir.exists() else 0


def test_deposits_through_the_pipeline_show_in_every_services_metrics(metered_lodge):
    system = metered_lodge.system
    student = system.client("student")
    before = metered_lodge.scrape_all()
    mails_before = mail_count(system)
    deposits = 2
    for number in range(deposits):
        title = f"Metered work {number} {uuid.uuid4().hex[:8]}"
        deposit = student.create_deposit("open-works", work_metadata(title))
        student.upload(deposit["id"], "work.pdf", pdf(title))
        student.submit(deposit["id"])
        system.wait_for_status(student, deposit["id"], "archived")

    def grown(after: dict[str, Samples], process: str, name: str, **labels: str) -> float:
        return after[process].value(name, **labels) - before[process].value(name, **labels)

    def settled(after: dict[str, Samples]) -> bool:
        letters = grown(after, "letters", "lodge_letters_sent_total")
        outboxes = [
            after[name].value(gauge, service=name)
            for name in SERVICE_NAMES
            for gauge in ("lodge_outbox_backlog", "lodge_outbox_oldest_seconds")
        ]
        return letters == 2 * deposits == mail_count(system) - mails_before and not any(outboxes)

    after = poll_until(
        lambda: (found := metered_lodge.scrape_all()) and settled(found) and found,
        timeout=60,
        description="the letters sent and every outbox drained",
    )
    # what Lodge is for
    assert grown(after, "intake", "lodge_deposits_submitted_total", profile="open-works") == 2
    assert grown(after, "approval", "lodge_decisions_total", decision="approve") == 2
    assert grown(after, "approval", "lodge_decisions_total") == 2
    assert grown(after, "inventory", "lodge_items_created_total") == 2
    for kind in ("deposit_submitted", "deposit_archived"):
        assert grown(after, "letters", "lodge_letters_sent_total", kind=kind) == 2, kind
    assert grown(after, "letters", "lodge_letters_failed_total") == 0
    # each step of the pipeline handled each deposit's event once, and was timed doing so
    for service, event in [
        ("validation", "deposit_submitted"),
        ("approval", "deposit_validated"),
        ("intake", "deposit_validated"),
        ("inventory", "deposit_approved"),
        ("intake", "deposit_approved"),
        ("intake", "item_created"),
    ]:
        handled = grown(
            after, service, "lodge_events_handled_total", service=service, event=event, outcome="ok"
        )
        assert handled == deposits, (service, event)
        timed = grown(
            after, service, "lodge_event_handler_seconds_count", service=service, event=event
        )
        assert timed == deposits, (service, event)
    for name in SERVICE_NAMES:
        for outcome in ("retried", "dead_lettered"):
            assert grown(after, name, "lodge_events_handled_total", outcome=outcome) == 0
        assert after[name].value("lodge_dead_letters_total", service=name) == 0
        assert after[name].has("lodge_dead_letters_total", service=name, reason_kind="failed")
    # the RPC each submission made, served by intake and awaited by the gateway
    assert (
        grown(
            after,
            "intake",
            "lodge_rpc_calls_total",
            service="intake",
            method="submit",
            outcome="ok",
        )
        == deposits
    )
    assert (
        grown(
            after, "gateway", "lodge_gateway_rpc_seconds_count", service="intake", method="submit"
        )
        == deposits
    )


def test_the_gateways_counts_are_every_workers_added_up(metered_lodge):
    """N requests spread over the workers: every scrape, whichever worker answers it, says
    N; and a worker that dies takes none of its counts with it."""
    system = metered_lodge.system
    requests_seen = {"method": "GET", "endpoint": "health.healthz", "status": "200"}

    def healthz_count() -> float:
        return metered_lodge.scrape_gateway().value("lodge_http_requests_total", **requests_seen)

    before = healthz_count()
    sent = 90
    with ThreadPoolExecutor(max_workers=9) as pool:  # a new connection each: any worker
        answers = list(
            pool.map(lambda _: requests.get(f"{system.base_url}/healthz", timeout=30), range(sent))
        )
    assert [answer.status_code for answer in answers] == [200] * sent
    assert {healthz_count() - before for _ in range(12)} == {sent}
    # the workers that answered each keep a file of their own
    [metrics_dir] = metered_lodge.tmp.glob("lodge-gateway-metrics-*")
    writers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
    assert len(writers) >= 2, f"only {writers} answered; the test shows no adding up"

    workers = set(system.gateway_workers())
    assert len(workers) == GATEWAY_WORKERS
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    poll_until(
        lambda: victim not in (now := system.gateway_workers()) and len(now) == GATEWAY_WORKERS,
        timeout=60,
        description="gunicorn to replace the killed worker",
    )
    assert {healthz_count() - before for _ in range(6)} == {sent}
