"""Signed webhooks: how a campus system without a broker or a token proves a request over
HTTP is its own. It signs the moment it sends and the body with its webhook secret:

    X-Lodge-System: <its name>
    X-Lodge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>

Lodge takes a signature made within `WINDOW` of its own clock only, so a captured request
cannot be sent again later; within the window the request's CloudEvents source and id
make a second one a duplicate that changes nothing. Free of Flask."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from kernel.policy.text import user_pattern

SYSTEM_HEADER = "X-Lodge-System"
SIGNATURE_HEADER = "X-Lodge-Signature"
WINDOW = 300  # seconds either way
SECRET_PREFIX = "whsec_"
_PART = user_pattern(r"^(?:t=([0-9]{1,12})|v1=([0-9a-f]{64}))$")


class BadSignature(Exception):
    """Why a signature is not taken, in words the caller may read."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """What a sender puts in X-Lodge-Signature (a client's code, and the tests')."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def check(header: str, body: bytes, secret: str, now: float) -> None:
    """Raise BadSignature unless `header` signs `body` with `secret` within the window.
    Several `v1` values may be sent (a sender rotating its secret); one must match."""
    if len(header) > 1000:
        raise BadSignature("the signature header is too long")
    parts = [_PART.match(part.strip()) for part in header.split(",")]
    if not parts or not all(parts):
        raise BadSignature("the signature header is not t=<seconds>,v1=<hex>")
    stamps = [m.group(1) for m in parts if m and m.group(1)]
    signed = [m.group(2) for m in parts if m and m.group(2)]
    if len(stamps) != 1 or not signed:
        raise BadSignature("the signature header needs one t and a v1")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > WINDOW:
        raise BadSignature(f"the signature is older or newer than {WINDOW} seconds")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in signed):
        raise BadSignature("the signature does not match the body")
