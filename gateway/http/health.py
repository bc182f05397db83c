"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import logging
import threading
import time

from flask import Blueprint, Response, abort, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from gateway.rpc import check_broker
from kernel.platform.config import get_settings
from kernel.platform.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS, exposition

log = logging.getLogger(__name__)

health = Blueprint("health", __name__)
# set in a gunicorn worker at SIGTERM (lodge gateway): from then on the process is not ready
draining = threading.Event()


def start_draining() -> None:
    draining.set()


@health.before_app_request
def start_timer():
    g.started = time.perf_counter()


@health.after_app_request
def observe(response):
    endpoint = request.endpoint or "unknown"
    HTTP_REQUESTS.labels(request.method, endpoint, response.status_code).inc()
    if "started" in g:
        HTTP_REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - g.started)
    return response


@health.get("/healthz")
def healthz():
    return jsonify(status="ok")


@health.get("/readyz")
def readyz():
    """Ready when the gateway's database and the broker answer and it is not stopping.
    What failed is named; why goes to the log only, since a probe's answer is public."""
    if draining.is_set():
        return jsonify(status="draining"), 503
    problems = []
    try:
        with current_app.extensions["lodge.database"].reading() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        log.warning("not ready: the database does not answer", exc_info=True)
        problems.append("database")
    try:
        check_broker(get_settings().broker_uri("gateway"))
    except Exception:
        log.warning("not ready: the broker does not answer", exc_info=True)
        problems.append("broker")
    if problems:
        return jsonify(status="unavailable", unavailable=problems), 503
    return jsonify(status="ready")


@health.get("/metrics")
def metrics():
    """For Prometheus with `Authorization: Bearer LODGE_METRICS_TOKEN`; off without one.
    Under `lodge gateway`, every worker's counts added up, whichever worker answers."""
    wanted = get_settings().site.metrics_token
    if not wanted:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), wanted.encode()
    ):
        abort(401, description="/metrics needs the metrics token as 'Authorization: Bearer'.")
    return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)
