"""Every answer names its correlation id (the caller's when well-formed) and its request id;
a hostile `X-Correlation-Id` or `traceparent` is replaced, never an error and never logged."""

import logging

import pytest

from kernel.platform.observability import LogContext


def test_a_well_formed_correlation_id_comes_back_and_each_request_has_its_own_id(gateway_app):
    client = gateway_app.test_client()
    first = client.get("/healthz", headers={"X-Correlation-Id": "campus-4711"})
    second = client.get("/healthz", headers={"X-Correlation-Id": "campus-4711"})
    assert first.status_code == second.status_code == 200
    assert first.headers["X-Correlation-Id"] == second.headers["X-Correlation-Id"] == "campus-4711"
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_without_one_each_request_gets_a_new_correlation_id(gateway_app):
    client = gateway_app.test_client()
    ids = {client.get("/healthz").headers["X-Correlation-Id"] for _ in range(3)}
    assert len(ids) == 3 and all(len(cid) == 32 for cid in ids)


def test_an_error_answer_names_its_ids_too(gateway_app):
    answer = gateway_app.test_client().get(
        "/api/v1/nothing-here", headers={"X-Correlation-Id": "c-404", "Accept": "application/json"}
    )
    assert answer.status_code == 404
    assert answer.headers["X-Correlation-Id"] == "c-404" and answer.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 8000,
        "a" * 65,
        "two words",
        "tab\there",
        "-leading",
        "semi;colon",
        "<script>",
        "ünïcode",
        "",
    ],
)
def test_a_hostile_correlation_id_is_replaced_and_never_logged(gateway_app, hostile, caplog):
    caplog.handler.addFilter(LogContext())

    @gateway_app.get("/test-logs-a-line")
    def logs_a_line():
        logging.getLogger("gateway.test").warning("a line inside the request")
        return "ok"

    answer = gateway_app.test_client().get(
        "/test-logs-a-line", headers={"X-Correlation-Id": hostile}
    )
    assert answer.status_code == 200
    given = answer.headers["X-Correlation-Id"]
    assert given != hostile and len(given) == 32
    [record] = [r for r in caplog.records if r.name == "gateway.test"]
    assert record.correlation_id == given
    assert not hostile or all(hostile not in str(vars(r)) for r in caplog.records)


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": "garbage"},
        {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"},
        {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01" + "x" * 5000},
        {"tracestate": "k=" + "v" * 5000, "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        {"traceparent": "\x01\x02"},
    ],
)
def test_hostile_trace_headers_are_no_error(gateway_app, headers):
    answer = gateway_app.test_client().get("/healthz", headers=headers)
    assert answer.status_code == 200
    assert "traceparent" not in answer.headers
