"""Signed webhook requests: a signature counts for its body, its secret and its moment only."""

import pytest

from gateway.campus.webhooks import WINDOW, BadSignature, check, new_secret, signature_header

BODY = b'{"specversion": "1.0", "id": "evt-1"}'
NOW = 1_800_000_000


def test_a_signature_of_the_body_with_the_secret_within_the_window_is_taken():
    secret = new_secret()
    assert secret.startswith("whsec_") and secret != new_secret()
    check(signature_header(secret, NOW, BODY), BODY, secret, NOW)
    check(signature_header(secret, NOW - WINDOW, BODY), BODY, secret, NOW)
    # a sender rotating its secret may sign with both
    old = new_secret()
    rotating = (
        signature_header(old, NOW, BODY) + "," + signature_header(secret, NOW, BODY).split(",")[1]
    )
    check(rotating, BODY, secret, NOW)


@pytest.mark.parametrize(
    ("header", "body", "now", "why"),
    [
        (lambda s: signature_header(s, NOW, BODY), BODY + b" ", NOW, "does not match"),
        (lambda s: signature_header("whsec_other", NOW, BODY), BODY, NOW, "does not match"),
        (lambda s: signature_header(s, NOW - WINDOW - 1, BODY), BODY, NOW, "older or newer"),
        (lambda s: signature_header(s, NOW + WINDOW + 1, BODY), BODY, NOW, "older or newer"),
        # the timestamp is signed: moving it breaks the signature
        (
            lambda s: signature_header(s, NOW - 1000, BODY).replace(f"t={NOW - 1000}", f"t={NOW}"),
            BODY,
            NOW,
            "does not match",
        ),
        (lambda s: "", BODY, NOW, "not t="),
        (lambda s: "v1=" + "0" * 64, BODY, NOW, "one t"),
        (lambda s: f"t={NOW},t={NOW},v1=" + "0" * 64, BODY, NOW, "one t"),
        (lambda s: f"t={NOW},v1=" + "X" * 64, BODY, NOW, "not t="),
        (lambda s: f"t={NOW}, v2=00", BODY, NOW, "not t="),
        (lambda s: f"t={NOW},v1=" + "0" * 2000, BODY, NOW, "too long"),
        (lambda s: "t=1e9,v1=00", BODY, NOW, "not t="),
    ],
)
def test_anything_else_is_refused_saying_why(header, body, now, why):
    secret = "whsec_the-systems-own"
    with pytest.raises(BadSignature, match=why):
        check(header(secret), body, secret, now)
