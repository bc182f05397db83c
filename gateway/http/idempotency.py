"""Idempotency-Key on every API POST: a client that lost an answer sends the request again
with the same key and gets the first answer (Idempotent-Replayed: true) instead of a second
deposit, file or note. Keys are kept per caller in the gateway database for a day.

While the first request with a key still runs, the key answers 409 (for as long as a
gateway worker may take: one killed meanwhile leaves its key free again after that);
once it has answered, the same key with a different request is a 422. The request's
RPC calls carry keys derived from the caller and key (gateway.rpc.CallKeys), so a retry
after a lost answer, on any worker, applies each call's effect once.
Only successful answers are kept: after an error the key is free to try again. A JSON
body is part of the request's fingerprint; a streamed upload is known by its declared
length and checksum headers, since reading it here would consume it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app, g, request
from sqlalchemy import delete, or_
from sqlalchemy.exc import DBAPIError

from gateway.models import IdempotentRequest
from gateway.rpc import CallKeys
from kernel.contracts.exceptions import Conflict, InvalidInput
from kernel.platform.db import insert_new, utcnow
from kernel.policy.text import user_pattern

HEADER = "Idempotency-Key"
KEY = user_pattern(r"^[\x21-\x7e]{1,255}$")  # visible ASCII
log = logging.getLogger(__name__)

KEEP = timedelta(days=1)
# gunicorn's worker timeout (lodge/cli.py); a request still "running" longer than it
# died with its worker
WORKER_TIMEOUT_SECONDS = 120
ABANDONED = timedelta(seconds=WORKER_TIMEOUT_SECONDS)
REPLAYED_HEADERS = ("Content-Type", "Location", "Lodge-File-Id", "Upload-Expires")
STREAMED_HEADERS = (
    "Content-Length",
    "Content-Digest",
    "Repr-Digest",
    "Digest",
    "Content-MD5",
    "Upload-Length",
    "Upload-Metadata",
)


def fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (
        request.method,
        request.path,
        request.query_string.decode("latin-1"),
        request.mimetype,
    ):
        digest.update(part.encode() + b"\0")
    if request.mimetype == "application/json":
        digest.update(request.get_data(cache=True))  # kept for the view's get_json
    else:
        for name in STREAMED_HEADERS:
            digest.update(f"{name}:{request.headers.get(name, '')}\0".encode())
    return digest.hexdigest()


def _database():
    return current_app.extensions["lodge.database"]


def _reserve(caller_id: str, key: str, asked: str):
    """Claim the key for this request; None if claimed, else the earlier request's row."""
    now = utcnow()
    with _database().unit_of_work() as uow:
        model = IdempotentRequest
        uow.session.execute(
            delete(model).where(
                model.caller_id == caller_id,
                or_(
                    model.created_at < now - KEEP,
                    model.status.is_(None) & (model.created_at < now - ABANDONED),
                ),
            )
        )
        if insert_new(
            uow.session, model, caller_id=caller_id, key=key, fingerprint=asked, created_at=now
        ):
            return None
        return uow.session.get(IdempotentRequest, (caller_id, key))


def _write(work: Callable[[], None]) -> None:
    """`work` in a unit of work, once more on a fresh connection if the first one died:
    it only writes the gateway's own row, so doing it again is harmless."""
    try:
        work()
    except DBAPIError as err:
        if not err.connection_invalidated:
            raise
        log.warning("idempotency key not stored, trying again: %s", err.orig)
        work()


def register(app: Flask) -> None:
    @app.before_request
    def replay_or_reserve():
        key = request.headers.get(HEADER)
        if (
            key is None
            or request.method != "POST"
            or not request.path.startswith("/api/")
            or g.get("actor") is None
        ):  # signed-out requests are refused anyway
            return None
        if not KEY.match(key):
            raise InvalidInput(
                f"{HEADER} must be 1 to 255 visible ASCII characters.",
                fields={HEADER: ["1 to 255 visible ASCII characters"]},
            )
        asked = fingerprint()
        earlier = _reserve(g.actor.id, key, asked)
        if earlier is None:
            g.idempotency_key = key
            g.call_keys = CallKeys(g.actor.id, key)
            return None
        if earlier.status is None:
            raise Conflict(
                f"The request with this {HEADER} is still running.",
                fields={HEADER: ["still running"]},
            )
        if earlier.fingerprint != asked:
            raise InvalidInput(
                f"This {HEADER} was used for a different request.",
                fields={HEADER: ["already used for a different request"]},
            )
        response = app.response_class(
            earlier.response["body"], status=earlier.status, headers=earlier.response["headers"]
        )
        response.headers["Idempotent-Replayed"] = "true"
        return response

    @app.after_request
    def remember(response):
        key = g.pop("idempotency_key", None)
        if key is None:
            return response
        kept = 200 <= response.status_code < 300 and not response.is_streamed
        answer = {
            "body": response.get_data(as_text=True) if kept else "",
            "headers": {
                name: response.headers[name]
                for name in REPLAYED_HEADERS
                if name in response.headers
            },
        }

        def store() -> None:
            with _database().unit_of_work() as uow:
                row = uow.session.get(IdempotentRequest, (g.actor.id, key))
                if row is not None and kept:
                    row.status, row.response = response.status_code, answer
                elif row is not None:
                    uow.session.delete(row)

        _write(store)
        return response

    @app.teardown_request
    def release(_error=None):
        """A request that ended without an answer frees its key."""
        key = g.pop("idempotency_key", None)
        if key is None:
            return

        def free() -> None:
            with _database().unit_of_work() as uow:
                uow.session.execute(
                    delete(IdempotentRequest).where(
                        IdempotentRequest.caller_id == g.actor.id,
                        IdempotentRequest.key == key,
                        IdempotentRequest.status.is_(None),
                    )
                )

        _write(free)
