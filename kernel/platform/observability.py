"""Logs and traces: one deposit's path through every process, by one id.

Every process logs through `configure_logging`: JSON lines (or text, for a terminal) that
carry the process and, when known, the correlation id, deposit id, request id, trace id and
span id of what it is doing. These ids live in context variables (per thread, per green
thread), set by the gateway per request and by `Store` per nameko worker.

The correlation id and the W3C trace context travel as headers: `X-Correlation-Id` and
`traceparent` over HTTP, nameko context data over RPC and events (AMQP headers
`nameko.correlation_id`, `nameko.traceparent`, `nameko.tracestate`), and through the
outbox, whose rows keep the headers of the worker that emitted them. A value that comes in
malformed is replaced, never logged or passed on.

Spans are exported by OTLP (HTTP, protobuf) when LODGE_OTLP_ENDPOINT is set; otherwise
OpenTelemetry's no-op tracer stands in and nothing is recorded.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pythonjsonlogger.json import JsonFormatter

from kernel.policy.text import user_pattern

CORRELATION_HEADER = "X-Correlation-Id"
REQUEST_HEADER = "X-Request-Id"
# the keys in nameko context data (so AMQP headers `nameko.<key>`) and in outbox rows
CORRELATION_KEY = "correlation_id"
TRACE_KEYS = ("traceparent", "tracestate")
# letters, digits and . _ : - (a UUID, a ULID, a campus system's own ids), at most 64
_IDENTIFIER = user_pattern(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# W3C allows a tracestate of 32 members; one longer than this is dropped, not cut
MAX_TRACE_HEADER = 512

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_deposit_id: ContextVar[str | None] = ContextVar("deposit_id", default=None)
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_propagator = TraceContextTextMapPropagator()
_process = {"name": "lodge"}


def identifier(value: object) -> str | None:
    """`value` if it is a well-formed id (correlation, request, deposit); else None."""
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
        return value
    return None


def new_id() -> str:
    return uuid.uuid4().hex


def deposit_id_in(arguments: Mapping[str, Any], payload: object = None) -> str | None:
    """The deposit a call or an event is about, if it names one well-formed."""
    found = arguments.get("deposit_id")
    if found is None and isinstance(payload, Mapping):
        found = payload.get("deposit_id")
    return identifier(found)


# --- trace context ------------------------------------------------------------------------


def trace_carrier(headers: Mapping[str, object] | None) -> dict[str, str]:
    """The W3C trace headers of `headers` that are text of a sane length; the propagator
    then checks their form and ignores one it cannot parse."""
    if not headers:
        return {}
    return {
        key: value
        for key in TRACE_KEYS
        if isinstance(value := headers.get(key), str) and len(value) <= MAX_TRACE_HEADER
    }


def outgoing_headers() -> dict[str, str]:
    """The headers a call or an event made now carries: the correlation id and the current
    span's trace context (the incoming one passed on when tracing is off)."""
    headers: dict[str, str] = {}
    _propagator.inject(headers)
    cid = _correlation_id.get()
    if cid is not None:
        headers[CORRELATION_KEY] = cid
    return headers


def tracer() -> trace.Tracer:
    return trace.get_tracer("lodge")


class Activity:
    """What one request or worker is doing: its ids bound for logging and its span current.

    `begin` and `end` may be called from separate hooks (a nameko dependency's setup and
    teardown, Flask's before- and teardown-request), so this is not only a context manager."""

    def __init__(
        self,
        name: str,
        kind: SpanKind,
        headers: Mapping[str, object] | None = None,
        correlation: object = None,
        deposit_id: str | None = None,
        request_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ):
        self.name, self.kind = name, kind
        self.correlation_id = identifier(correlation) or new_id()
        self.deposit_id = deposit_id
        self.request_id = request_id
        parent = _propagator.extract(trace_carrier(headers))
        span_attributes = {"lodge.correlation_id": self.correlation_id, **(attributes or {})}
        if deposit_id:
            span_attributes["lodge.deposit_id"] = deposit_id
        self.span: Span = tracer().start_span(
            name, context=parent, kind=kind, attributes=span_attributes
        )
        self._tokens: list[Any] = []

    def begin(self) -> Activity:
        self._tokens = [
            otel_context.attach(trace.set_span_in_context(self.span)),
            (_correlation_id, _correlation_id.set(self.correlation_id)),
            (_deposit_id, _deposit_id.set(self.deposit_id)),
            (_request_id, _request_id.set(self.request_id)),
        ]
        return self

    def failed(self, error: BaseException) -> None:
        self.span.record_exception(error)
        self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))

    def end(self) -> None:
        self.span.end()
        if not self._tokens:
            return
        otel_token, *variables = self._tokens
        self._tokens = []
        for variable, token in reversed(variables):
            with contextlib.suppress(ValueError):  # set in another context: nothing to undo
                variable.reset(token)
        with contextlib.suppress(ValueError):
            otel_context.detach(otel_token)

    def __enter__(self) -> Activity:
        return self.begin()

    def __exit__(self, exc_type, exc, _traceback) -> None:
        if exc is not None:
            self.failed(exc)
        self.end()


@contextlib.contextmanager
def span(name: str, kind: SpanKind, headers: Mapping[str, object] | None = None) -> Iterator[Span]:
    """A child span of the current one, or of the trace context in `headers` if given."""
    parent = _propagator.extract(trace_carrier(headers)) if headers is not None else None
    with tracer().start_as_current_span(name, context=parent, kind=kind) as current:
        yield current


@contextlib.contextmanager
def correlated(headers: Mapping[str, object] | None) -> Iterator[None]:
    """The correlation id of `headers` (an outbox row's), bound for logging meanwhile."""
    token = _correlation_id.set(identifier((headers or {}).get(CORRELATION_KEY)))
    try:
        yield
    finally:
        _correlation_id.reset(token)


# --- logs ---------------------------------------------------------------------------------


# gunicorn's access log runs after the request's context is gone: the ids come from the
# response headers among its atoms
ACCESS_LOG_IDS = {
    "correlation_id": f"{{{CORRELATION_HEADER.lower()}}}o",
    "request_id": f"{{{REQUEST_HEADER.lower()}}}o",
}


class LogContext(logging.Filter):
    """Adds the process and the ids known where the record is made."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = _process["name"]
        for key, variable in (
            ("correlation_id", _correlation_id),
            ("deposit_id", _deposit_id),
            ("request_id", _request_id),
        ):
            value = variable.get()
            if value is not None and not hasattr(record, key):
                setattr(record, key, value)
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        if isinstance(record.args, Mapping):  # gunicorn's access log: its atoms
            for key, header in ACCESS_LOG_IDS.items():
                value = identifier(record.args.get(header))
                if value is not None:
                    setattr(record, key, value)
        return True


JSON_FIELDS = "{levelname}{name}{message}"
TEXT_FORMAT = "%(asctime)s %(service)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        JSON_FIELDS,
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"correlation_id": "-"})


def log_config(process: str, level: str, form: str) -> dict[str, Any]:
    """The logging.config dictionary of a process: one handler on stderr, in `form` (json
    or text). gunicorn applies it too (its `logconfig_dict`), so its own logs and the access
    log go through the same handler."""
    _process["name"] = process
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": LogContext}},
        "formatters": {
            "lodge": {"()": json_formatter if form == "json" else text_formatter},
        },
        "handlers": {
            "lodge": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "lodge",
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["lodge"]},
        "loggers": {
            **{
                name: {"level": level, "handlers": [], "propagate": True}
                for name in ("gunicorn.error", "gunicorn.access")
            },
            # a line per plugin on every migration run says nothing an operator needs
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure_logging(process: str, level: str, form: str) -> None:
    logging.config.dictConfig(log_config(process, level, form))


def configure_tracing(process: str, endpoint: str | None) -> None:
    """Export spans to the OTLP/HTTP collector at `endpoint` (its base URL: /v1/traces is
    added); with none, the no-op tracer stays. Call after forking: the exporting thread does
    not survive a fork."""
    if not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": process, "service.namespace": "lodge"})
    )
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
