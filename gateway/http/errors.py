"""The one mapping from domain errors to HTTP responses: {"error": {code, message, fields}}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask_wtf.csrf import CSRFError
from nameko.exceptions import (
    RemoteError,
    ReplyQueueExpiredWithPendingReplies,
    RpcTimeout,
)
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from gateway.rpc import BrokerUnavailable
from kernel.contracts import exceptions as domain

log = logging.getLogger(__name__)

STATUS = {
    domain.InvalidInput: 422,
    domain.NotFound: 404,
    domain.Forbidden: 403,
    domain.Conflict: 409,
    domain.InvalidTransition: 409,
    domain.TooLarge: 413,
    domain.QuotaExceeded: 429,
    domain.Unavailable: 503,
}
RETRY_AFTER_SECONDS = 5  # what a 503 asks the client to wait: a lost connection is back by then


def status_of(code: str) -> int:
    """The HTTP status of a domain error known by its code alone (as a campus system's
    reply carries it)."""
    return next((status for error, status in STATUS.items() if error.code == code), 400)


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    response = jsonify(error_body(code, message, fields))
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    @app.errorhandler(domain.LodgeError)
    def on_domain_error(err: domain.LodgeError):
        return error_response(STATUS.get(type(err), 400), err.code, err.message, err.fields)

    @app.errorhandler(RpcTimeout)
    def on_timeout(err):
        return error_response(
            503, "unavailable", "A Lodge service did not answer in time; try again shortly."
        )

    @app.errorhandler(BrokerUnavailable)
    @app.errorhandler(ReplyQueueExpiredWithPendingReplies)
    def on_broker_lost(err):
        log.warning("broker unavailable: %s", err)
        return error_response(
            503, "unavailable", "Lodge's services cannot be reached just now; try again shortly."
        )

    @app.errorhandler(DBAPIError)
    def on_database_error(err: DBAPIError):
        if not err.connection_invalidated:
            return on_unexpected(err)
        log.warning(
            "gateway database connection lost on %s %s: %s", request.method, request.path, err.orig
        )
        return error_response(
            503, "unavailable", "Lodge's database connection failed; try again shortly."
        )

    @app.errorhandler(RemoteError)
    def on_remote_error(err: RemoteError):
        log.error("service error: %s", err)
        return error_response(500, "internal_error", "Something went wrong on our side.")

    @app.errorhandler(CSRFError)
    def on_csrf_error(err: CSRFError):
        if not _wants_json():
            return err
        return error_response(
            400,
            "csrf_failed",
            f"{err.description} Send the page's token "
            "in the X-CSRFToken header, or use an API token.",
        )

    @app.errorhandler(HTTPException)
    def on_http_error(err: HTTPException):
        if not _wants_json():
            return err
        code = (err.name or "error").lower().replace(" ", "_")
        return error_response(err.code or 500, code, err.description or err.name)

    @app.errorhandler(Exception)
    def on_unexpected(err: Exception):
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=err)
        if not _wants_json():
            return InternalServerError()  # werkzeug's plain page: no trace, no detail
        return error_response(500, "internal_error", "Something went wrong on our side.")
