"""Every Prometheus metric a Lodge process exports, defined here and only here: the alert
rules and the dashboard in deploy/k8s/components/monitoring name nothing else (a test holds
them together).

A service counts in its own process and serves the default registry on its metrics port
(`serve`, started by `lodge service` when LODGE_METRICS_BIND is set). The gateway's gunicorn
workers write their counts to files in PROMETHEUS_MULTIPROC_DIR, which `lodge gateway` sets
before anything imports this module, and its /metrics adds every worker's up
(`exposition`)."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)

# handlers can scan large files (validation); a timeout is 30 s for an RPC
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
RPC_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# --- event handlers (kernel/platform/messaging.py) ------------------------------------------

EVENT_OUTCOMES = ("ok", "retried", "dead_lettered", "duplicate")
EVENTS_HANDLED = Counter(
    "lodge_events_handled_total",
    "Deliveries of events to handlers, by how each ended",
    ["service", "event", "outcome"],
)
EVENT_HANDLER_SECONDS = Histogram(
    "lodge_event_handler_seconds",
    "Time an event handler ran, failures included",
    ["service", "event"],
    buckets=HANDLER_BUCKETS,
)
EVENT_RETRIES = Counter(
    "lodge_event_retries_total",
    "Failed deliveries sent back to wait for another attempt",
    ["service", "event"],
)
# failed: a handler kept raising; contract: the payload breaks its contract; undecodable: the
# body cannot be decoded; refused: a handler raised RefusedMessage; delivery_limit: the
# broker's own limit on deliveries
REASON_KINDS = ("failed", "contract", "undecodable", "refused", "delivery_limit")
DEAD_LETTERS = Counter(
    "lodge_dead_letters_total",
    "Messages sent to the service's dead-letter queue, by why",
    ["service", "reason_kind"],
)
DEAD_LETTERS_PARKED = Gauge(
    "lodge_dead_letters_parked",
    "Dead letters kept and not yet replayed or dropped",
    ["service"],
)

# --- outbox relay (kernel/platform/dependencies.py) -----------------------------------------

OUTBOX_BACKLOG = Gauge(
    "lodge_outbox_backlog",
    "Outbox rows not yet published",
    ["service"],
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "lodge_outbox_oldest_seconds",
    "Age of the oldest unpublished outbox row (0 when the outbox is empty)",
    ["service"],
)

# --- RPC, served (kernel/platform/messaging.py) and called (gateway/rpc.py) -----------------

RPC_OUTCOMES = ("ok", "refused", "error")
RPC_SECONDS = Histogram(
    "lodge_rpc_seconds",
    "Time a service took to answer an RPC",
    ["service", "method"],
    buckets=RPC_BUCKETS,
)
RPC_CALLS = Counter(
    "lodge_rpc_calls_total",
    "RPCs a service answered: ok, refused (a domain error, the caller's doing) or error",
    ["service", "method", "outcome"],
)
GATEWAY_RPC_SECONDS = Histogram(
    "lodge_gateway_rpc_seconds",
    "Time the gateway waited for a service's answer, the broker's round trip included",
    ["service", "method"],
    buckets=RPC_BUCKETS,
)

# --- HTTP (gateway/http/health.py) ----------------------------------------------------------

HTTP_REQUESTS = Counter(
    "lodge_http_requests_total", "HTTP requests", ["method", "endpoint", "status"]
)
HTTP_REQUEST_SECONDS = Histogram("lodge_http_request_seconds", "HTTP request latency", ["endpoint"])

# --- campus systems' requests (gateway/campus/inbox.py) --------------------------------------

# accepted and refused: a reply went out; duplicate: the same request came before; dropped: no
# registered system to answer (dead-lettered only); failed: a fault, the request goes back
INBOX_OUTCOMES = ("accepted", "refused", "duplicate", "dropped", "failed")
INBOX_REQUESTS = Counter(
    "lodge_inbox_requests_total",
    "Campus systems' requests the inbox worker handled, by how each ended",
    ["outcome"],
)
INBOX_REQUEST_SECONDS = Histogram(
    "lodge_inbox_request_seconds",
    "Time the inbox worker took over one request, its files' fetching included",
    buckets=HANDLER_BUCKETS,
)

# --- what Lodge is for: counted once the change is committed (UnitOfWork.after_commit) ------

DEPOSITS_SUBMITTED = Counter(
    "lodge_deposits_submitted_total", "Deposits submitted, by profile", ["profile"]
)
DECISIONS = Counter(
    "lodge_decisions_total", "Review decisions: approve, decline or return", ["decision"]
)
LETTERS_SENT = Counter("lodge_letters_sent_total", "Letters the mail server took", ["kind"])
LETTERS_FAILED = Counter(
    "lodge_letters_failed_total", "Letters given up on (cannot be built or sent)", ["kind"]
)
ITEMS_CREATED = Counter(
    "lodge_items_created_total", "Items created in the inventory, by collection", ["collection"]
)


def prepare_service(service: str) -> None:
    """Give a service's dead-letter and retry series their zero before the first one, so
    `increase()` sees the first dead letter too (a series that starts at 1 shows none)."""
    for kind in REASON_KINDS:
        DEAD_LETTERS.labels(service, kind)


# --- while a handler runs ---------------------------------------------------------------------

_handling = threading.local()  # green under eventlet: one per worker


@contextlib.contextmanager
def handling(service: str, event: str) -> Iterator[None]:
    """Times one run of an event handler; one that ends without error counts as handled
    ("duplicate" when it found the event already handled: `note_duplicate`)."""
    _handling.duplicate = False
    started = time.perf_counter()
    try:
        yield
    finally:
        EVENT_HANDLER_SECONDS.labels(service, event).observe(time.perf_counter() - started)
    EVENTS_HANDLED.labels(service, event, "duplicate" if _handling.duplicate else "ok").inc()


def note_duplicate() -> None:
    """The running handler met an event it has handled before (UnitOfWork.first_time)."""
    _handling.duplicate = True


def settled_failure(service: str, event: str, retried: bool, reason_kind: str) -> None:
    """A delivery that failed went to wait for another attempt, or to the dead letters."""
    if retried:
        EVENT_RETRIES.labels(service, event).inc()
        EVENTS_HANDLED.labels(service, event, "retried").inc()
    else:
        EVENTS_HANDLED.labels(service, event, "dead_lettered").inc()
        DEAD_LETTERS.labels(service, reason_kind).inc()


@contextlib.contextmanager
def serving_rpc(service: str, method: str, refusals: type[BaseException]) -> Iterator[None]:
    """Times one RPC a service answers and counts how it ended; `refusals` are the
    caller's doing (domain errors)."""
    outcome = "error"
    started = time.perf_counter()
    try:
        yield
        outcome = "ok"
    except refusals:
        outcome = "refused"
        raise
    finally:
        RPC_SECONDS.labels(service, method).observe(time.perf_counter() - started)
        RPC_CALLS.labels(service, method, outcome).inc()


# --- exposition -------------------------------------------------------------------------------


def exposition() -> bytes:
    """The text Prometheus scrapes: every gunicorn worker's counts added up when this process
    runs under `lodge gateway` (PROMETHEUS_MULTIPROC_DIR), else this process's registry."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def worker_gone(pid: int) -> None:
    """gunicorn's child_exit hook: the gauges of a dead worker stop counting (its counters'
    files stay, so totals never go back)."""
    multiprocess.mark_process_dead(pid)


def _answer(start_response: Callable, status: str, code: str, message: str, extra=()):
    body = json.dumps({"error": {"code": code, "message": message, "fields": {}}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, headers + list(extra))
    return [body]


def metrics_app(token: str, registry: CollectorRegistry = REGISTRY) -> Callable:
    """The WSGI app of a service's metrics port: GET /metrics with `Authorization: Bearer
    <token>`, as the gateway's /metrics; anything else a 4xx in the gateway's error shape."""
    exporter = make_wsgi_app(registry)
    wanted = token.encode()

    def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            return _answer(start_response, "404 Not Found", "not_found", "Only /metrics is here.")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(
                start_response,
                "405 Method Not Allowed",
                "method_not_allowed",
                "/metrics is read with GET.",
                [("Allow", "GET, HEAD")],
            )
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        # WSGI hands headers over as latin-1 text: back to the bytes that came
        given_bytes = given.strip().encode("latin-1", errors="replace")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given_bytes, wanted):
            return _answer(
                start_response,
                "401 Unauthorized",
                "unauthorized",
                "/metrics needs the metrics token as 'Authorization: Bearer'.",
                [("WWW-Authenticate", "Bearer")],
            )
        return exporter(environ, start_response)

    return app


class _QuietHandler(WSGIRequestHandler):
    timeout = 10  # seconds a client may take to send its request: no idle connection stays

    def log_message(self, format, *args):
        """Prometheus scrapes every few seconds: no line in the log each time."""


class MetricsServer(ThreadingMixIn, WSGIServer):
    """Waits in accept() on its own socket, not in socketserver's selector: socketserver picks
    that when it is imported, which may be before eventlet patches select (logging.config
    imports it), and an unpatched select would stall every green thread of the service."""

    daemon_threads = True

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        self._stopped = threading.Event()
        self.socket.settimeout(poll_interval)  # a green wait under eventlet
        try:
            while self._serving:
                # an accept() that timed out returns; not in typeshed, as it is private
                self._handle_request_noblock()  # type: ignore[attr-defined]
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._serving = False
        self._stopped.wait()


class MetricsServer6(MetricsServer):
    address_family = socket.AF_INET6


def split_bind(bind: str) -> tuple[str, int]:
    """`host:port` (an IPv6 host in brackets) as a host and a port."""
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def serve(bind: str, token: str) -> MetricsServer:
    """Serve /metrics on `bind` from a thread of its own (a green thread in a service, where
    eventlet patched threading and sockets); returns the running server."""
    host, port = split_bind(bind)
    server_class = MetricsServer6 if ":" in host else MetricsServer
    server = make_server(host, port, metrics_app(token), server_class, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
