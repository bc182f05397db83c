"""Each request's ids and span: its correlation id (the caller's `X-Correlation-Id` when it is
well-formed, else a new one), a request id of its own, both answered in response headers, and
a server span in the caller's trace (W3C `traceparent`). The RPC calls it makes carry them
on (gateway/rpc.py)."""

from __future__ import annotations

from flask import Flask, Response, g, request
from opentelemetry.trace import SpanKind, Status, StatusCode

from kernel.platform.observability import (
    CORRELATION_HEADER,
    REQUEST_HEADER,
    TRACE_KEYS,
    Activity,
    identifier,
    new_id,
)

# a method outside these (gunicorn takes any token) is named OTHER in the span
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def register(app: Flask) -> None:
    app.before_request(begin)
    app.after_request(answer)
    app.teardown_request(end)


def begin() -> None:
    method = request.method if request.method in METHODS else "OTHER"
    route = request.url_rule.rule if request.url_rule is not None else "(no route)"
    g.activity = Activity(
        f"{method} {route}",
        SpanKind.SERVER,
        headers={key: request.headers.get(key) for key in TRACE_KEYS},
        correlation=request.headers.get(CORRELATION_HEADER),
        deposit_id=identifier((request.view_args or {}).get("deposit_id")),
        request_id=new_id(),
        attributes={"http.request.method": method, "http.route": route},
    ).begin()


def answer(response: Response) -> Response:
    activity = g.get("activity")
    if activity is not None:
        response.headers[CORRELATION_HEADER] = activity.correlation_id
        response.headers[REQUEST_HEADER] = activity.request_id
        activity.span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            activity.span.set_status(Status(StatusCode.ERROR))
    return response


def end(error: BaseException | None) -> None:
    activity = g.pop("activity", None)
    if activity is None:
        return
    if error is not None:
        activity.failed(error)
    activity.end()
