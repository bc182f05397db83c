"""The ids that travel with a deposit (correlation, trace context) and the log lines that carry
them: what is taken from a header, what is replaced, what goes on."""

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from kernel.platform.observability import (
    CORRELATION_KEY,
    Activity,
    LogContext,
    correlated,
    deposit_id_in,
    identifier,
    json_formatter,
    log_config,
    outgoing_headers,
    span,
    text_formatter,
    trace_carrier,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"

HOSTILE_IDS = [
    "",
    "x" * 65,
    "x" * 100_000,
    "line\nbreak",
    "carriage\rreturn",
    "nul\x00",
    "escape\x1b[31m",
    "two words",
    "-leading",
    "ünïcode",
    "a/b",
    '{"json": 1}',
    12345,
    None,
    ["a-list"],
    {"a": "dict"},
    b"bytes",
]


@pytest.fixture(scope="module")
def exported():
    """Spans recorded in memory: the SDK's provider, set once for the process."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # keeps nothing more from later tests


def json_lines(records) -> list[dict]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(LogContext())
    logger = logging.getLogger("tests.observability")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for make in records:
            make(logger)
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    "value", ["a", "0af7651916cd43dd", "campus-4711", "ulid:01H8Z.X_y-z", "x" * 64]
)
def test_well_formed_ids_are_taken(value):
    assert identifier(value) == value


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_ids_are_refused(value):
    assert identifier(value) is None


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_a_hostile_correlation_id_is_replaced_and_never_logged(value, exported):
    with Activity("hostile", SpanKind.SERVER, correlation=value) as activity:
        lines = json_lines([lambda log: log.warning("inside")])
        assert outgoing_headers()[CORRELATION_KEY] == activity.correlation_id != value
    assert lines[0]["correlation_id"] == activity.correlation_id
    if isinstance(value, str) and value:
        assert value not in json.dumps(lines)
    assert CORRELATION_KEY not in outgoing_headers()


def test_the_trace_context_continues_and_goes_on_from_the_current_span(exported):
    with Activity(
        "rpc", SpanKind.SERVER, headers={"traceparent": PARENT}, correlation="c-1", deposit_id="d-1"
    ) as activity:
        [line] = json_lines([lambda log: log.info("working")])
        headers = outgoing_headers()
    own = activity.span.get_span_context()
    assert format(own.trace_id, "032x") == TRACE_ID
    assert headers == {
        "traceparent": f"00-{TRACE_ID}-{format(own.span_id, '016x')}-01",
        CORRELATION_KEY: "c-1",
    }
    assert line["trace_id"] == TRACE_ID and line["span_id"] == format(own.span_id, "016x")
    assert line["deposit_id"] == "d-1" and line["service"]
    [finished] = [s for s in exported.get_finished_spans() if s.name == "rpc"]
    assert finished.parent.span_id == 0xB7AD6B7169203331
    assert finished.attributes["lodge.correlation_id"] == "c-1"


def test_an_event_carries_the_emitting_workers_ids_to_its_handler(exported):
    """What the outbox keeps (outgoing_headers) is what the relay publishes from and what
    the handler's worker continues."""
    with Activity("intake.submit", SpanKind.SERVER, correlation="c-2") as worker:
        stored = outgoing_headers()
    with correlated(stored), span("intake.deposit_submitted publish", SpanKind.PRODUCER, stored):
        assert outgoing_headers()[CORRELATION_KEY] == "c-2"
        published = outgoing_headers()
    with Activity(
        "validation handles",
        SpanKind.CONSUMER,
        headers=published,
        correlation=published[CORRELATION_KEY],
    ) as handler:
        pass
    trace_ids = {a.span.get_span_context().trace_id for a in (worker, handler)}
    assert len(trace_ids) == 1 and handler.correlation_id == "c-2"
    publish = next(s for s in exported.get_finished_spans() if s.name.endswith("publish"))
    handled = next(s for s in exported.get_finished_spans() if s.name == "validation handles")
    assert publish.parent.span_id == worker.span.get_span_context().span_id
    assert handled.parent.span_id == publish.context.span_id


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": "garbage"},
        {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"},
        {"traceparent": "ff-" + TRACE_ID + "-b7ad6b7169203331-01"},
        {"traceparent": PARENT + "x" * 600},
        {"traceparent": 42},
        {"traceparent": [PARENT]},
        {"traceparent": PARENT + "\x00"},
        {"traceparent": PARENT + "-extra"},
        {"tracestate": "k=" + "v" * 5000},
    ],
)
def test_hostile_trace_headers_start_a_trace_of_its_own(headers, exported):
    with Activity("hostile trace", SpanKind.SERVER, headers=headers) as activity:
        passed_on = json.dumps(outgoing_headers())
    context = activity.span.get_span_context()
    assert context.is_valid and format(context.trace_id, "032x") != TRACE_ID
    assert activity.span.parent is None
    assert not any(value in passed_on for value in headers.values() if isinstance(value, str))


def test_only_text_of_a_sane_length_reaches_the_propagator():
    assert trace_carrier(None) == {}
    assert trace_carrier({"traceparent": PARENT, "tracestate": 7, "other": "x"}) == {
        "traceparent": PARENT
    }
    assert trace_carrier({"tracestate": "a=" + "b" * 600}) == {}


def test_the_deposit_is_found_in_the_arguments_or_the_payload():
    assert deposit_id_in({"deposit_id": "d-1"}) == "d-1"
    assert deposit_id_in({}, {"deposit_id": "d-2"}) == "d-2"
    assert deposit_id_in({"deposit_id": "bad id\n"}) is None
    assert deposit_id_in({}, "not a mapping") is None


def test_the_access_log_takes_its_ids_from_the_answered_headers():
    atoms = {"{x-correlation-id}o": "c-9", "{x-request-id}o": "bad\nid", "s": "200"}
    [line] = json_lines([lambda log: log.info("%(s)s", atoms)])
    assert line["correlation_id"] == "c-9" and "request_id" not in line
    assert line["message"] == "200"


def test_json_and_text_lines_name_the_process():
    config = log_config("validation", "INFO", "json")
    assert config["root"] == {"level": "INFO", "handlers": ["lodge"]}
    assert config["loggers"]["gunicorn.access"]["propagate"] is True
    [line] = json_lines([lambda log: log.info("plain")])
    assert line["service"] == "validation"
    assert {"time", "level", "logger", "message"} <= line.keys()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    LogContext().filter(record)
    assert text_formatter().format(record).endswith("validation INFO x [-] hello")
