"""One deposit followed through every process: by its correlation id in the JSON logs, and by
its trace at a stand-in OpenTelemetry collector (OTLP over HTTP)."""

import json
import uuid

import pytest

from tests.e2e.test_lifecycles import pdf_bytes, unique_title, work_metadata
from tests.support.otlp import OtlpReceiver
from tests.support.system import LodgeSystem, expect, poll_until

PROCESSES = ("gateway", "intake", "validation", "approval", "inventory", "letters")
# every hop of an open work's way from the submit request to its letters
HOPS = {
    ("gateway", "SERVER", "POST /api/v1/deposits/<deposit_id>/actions/<action>"),
    ("gateway", "CLIENT", "intake.submit call"),
    ("intake", "SERVER", "intake.submit"),
    ("intake", "PRODUCER", "intake.deposit_submitted publish"),
    ("validation", "CONSUMER", "validation handles intake.deposit_submitted"),
    ("validation", "PRODUCER", "validation.deposit_validated publish"),
    ("approval", "CONSUMER", "approval handles validation.deposit_validated"),
    ("approval", "PRODUCER", "approval.deposit_approved publish"),
    ("inventory", "CONSUMER", "inventory handles approval.deposit_approved"),
    ("inventory", "PRODUCER", "inventory.item_created publish"),
    ("intake", "CONSUMER", "intake handles inventory.item_created"),
    ("intake", "PRODUCER", "intake.deposit_status_changed publish"),
    ("letters", "CONSUMER", "letters handles intake.deposit_status_changed"),
}


@pytest.fixture(scope="module")
def collector():
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced_lodge(collector):
    with LodgeSystem(
        "postgresql",
        label="traces",
        extra_env={
            "LODGE_OTLP_ENDPOINT": collector.url,
            "LODGE_LOG_FORMAT": "json",
            "LODGE_ACCESS_LOG": "1",
        },
    ) as system:
        yield system


def log_lines(system: LodgeSystem) -> list[dict]:
    """The lines of every process that are JSON objects (`lodge run` prints a few others)."""
    lines = []
    for line in system.log_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_one_deposit_is_followed_by_its_correlation_id_and_its_trace(traced_lodge, collector):
    correlation = f"campus-{uuid.uuid4().hex}"
    student = traced_lodge.client("student")
    student.headers["X-Correlation-Id"] = correlation
    title = unique_title("traced")
    deposit = student.create_deposit("open-works", work_metadata(title))
    student.upload(deposit["id"], "work.pdf", pdf_bytes(title))
    student.accept_terms(deposit["id"])
    submitted = student.post(f"/api/v1/deposits/{deposit['id']}/actions/submit")
    expect(submitted, 200)
    assert submitted.headers["X-Correlation-Id"] == correlation
    traced_lodge.wait_for_status(student, deposit["id"], "archived", timeout=60)

    # one grep: the correlation id is in lines of the gateway and of all five services
    def processes_seen():
        seen = {line["service"] for line in log_lines(traced_lodge) if correlation in line.values()}
        return seen if seen >= set(PROCESSES) else None

    poll_until(processes_seen, timeout=30, description="the correlation id in every process")
    for line in log_lines(traced_lodge):
        if line.get("correlation_id") == correlation:
            assert {"time", "level", "logger", "message", "service"} <= line.keys()
    with_deposit = [
        line
        for line in log_lines(traced_lodge)
        if line.get("correlation_id") == correlation and line.get("deposit_id") == deposit["id"]
    ]
    # a service knows the deposit a call or event is about (the access log does not)
    assert {line["service"] for line in with_deposit} >= set(PROCESSES) - {"gateway"}

    # one trace: the submit request's, with a span for every hop
    def submit_trace():
        for span in collector.received():
            if (
                span.kind == "SERVER"
                and span.service == "gateway"
                and span.attributes.get("lodge.correlation_id") == correlation
                and span.name.endswith("/actions/<action>")
            ):
                return span.trace_id
        return None

    trace_id = poll_until(submit_trace, timeout=60, description="the submit request's span")

    def every_hop():
        spans = collector.spans_of(trace_id)
        found = {(span.service, span.kind, span.name) for span in spans}
        return spans if found >= HOPS else None

    spans = poll_until(every_hop, timeout=60, description="a span for every hop")
    ids = {span.span_id for span in spans}
    roots = [span for span in spans if not span.parent_span_id]
    assert [(root.service, root.kind) for root in roots] == [("gateway", "SERVER")]
    assert all(span.parent_span_id in ids for span in spans if span.parent_span_id)
    assert {span.attributes.get("lodge.correlation_id") for span in spans} - {None} == {correlation}
    # the log lines of the hops carry the trace id too
    assert trace_id in {line.get("trace_id") for line in with_deposit}
    assert collector.problems == []


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 8000,  # gunicorn answers 431 past 8190 bytes a header
        "two words",
        "tab\there",
        "ünïcode",
        "-leading-dash",
        "a" * 65,
    ],
)
def test_a_hostile_correlation_id_is_replaced_never_logged(traced_lodge, hostile):
    student = traced_lodge.client("student")
    answer = student.get("/api/v1/deposits", headers={"X-Correlation-Id": hostile.encode()})
    expect(answer, 200)
    given = answer.headers["X-Correlation-Id"]
    assert given != hostile and len(given) == 32
    assert hostile not in traced_lodge.log_text()


def test_hostile_trace_context_starts_a_new_trace(traced_lodge, collector):
    student = traced_lodge.client("student")
    marker = uuid.uuid4().hex
    hostile = {
        "traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01",  # the invalid all-zero ids
        "tracestate": "k=" + "v" * 5000,
    }
    answer = student.get("/api/v1/deposits", headers={"X-Correlation-Id": marker, **hostile})
    expect(answer, 200)

    def request_span():
        for span in collector.received():
            if span.attributes.get("lodge.correlation_id") == marker and (
                span.service,
                span.kind,
            ) == ("gateway", "SERVER"):
                return span
        return None

    span = poll_until(request_span, timeout=60, description="the request's span")
    assert not span.parent_span_id and span.trace_id != "0" * 32
    assert "v" * 5000 not in traced_lodge.log_text()
