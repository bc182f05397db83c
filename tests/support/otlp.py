"""A stand-in OpenTelemetry collector: OTLP over HTTP, as a collector's receiver takes it.

It accepts only POST /v1/traces with `Content-Type: application/x-protobuf`, decodes the
body as an ExportTraceServiceRequest (opentelemetry-proto) and keeps every span; anything
else is answered 404 or 415 and noted in `problems`, which a test expects empty.

    with OtlpReceiver() as collector:
        ...point Lodge at collector.url (LODGE_OTLP_ENDPOINT)...
        spans = collector.spans_of(trace_id)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tests.support.system import free_port

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict = field(hash=False)


def _value(any_value) -> object:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name")),
                        name=span.name,
                        kind=ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                )
    return spans


class OtlpReceiver:
    def __init__(self, host: str = "127.0.0.1"):
        self.host, self.port = host, free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.spans: list[ReceivedSpan] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != TRACES_PATH:
                    return self._refuse(404, f"POST to {self.path}")
                content_type = self.headers.get("Content-Type", "")
                if content_type != PROTOBUF:
                    return self._refuse(415, f"content type {content_type!r}")
                try:
                    spans = decode(body)
                except Exception as err:  # noqa: BLE001 - whatever it is, the sender is wrong
                    return self._refuse(400, f"undecodable body: {err!r}")
                with receiver._lock:
                    receiver.spans.extend(spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _refuse(self, status: int, problem: str) -> None:
                with receiver._lock:
                    receiver.problems.append(problem)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet: the test reports what matters
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def spans_of(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.received() if span.trace_id == trace_id]
