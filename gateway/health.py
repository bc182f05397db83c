"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

import time

from flask import Flask, Response, current_app, g, jsonify, request
from nameko.amqp.publish import get_connection
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

from services.common.config import get_settings

REQUESTS = Counter("lodge_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("lodge_http_request_seconds", "HTTP request latency", ["endpoint"])


def register(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def observe(response):
        endpoint = request.endpoint or "unknown"
        REQUESTS.labels(request.method, endpoint, response.status_code).inc()
        if "started" in g:
            LATENCY.labels(endpoint).observe(time.perf_counter() - g.started)
        return response

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        """Ready when the gateway's database and the broker answer."""
        problems = {}
        try:
            with current_app.extensions["lodge.database"].reading() as session:
                session.execute(text("SELECT 1"))
        except Exception as err:
            problems["database"] = str(err)
        try:
            with get_connection(get_settings().broker_uri("gateway")) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as err:
            problems["broker"] = str(err)
        if problems:
            return jsonify(status="unavailable", problems=problems), 503
        return jsonify(status="ready")

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
