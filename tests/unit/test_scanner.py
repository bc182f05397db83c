"""clamd's replies, read the way validation must read them (the real clamd is in tests/services)."""

import pytest

from services.validation.scanner import Clamd, interpret


@pytest.mark.parametrize(
    ("reply", "verdict", "signature"),
    [
        ("stream: OK", "clean", ""),
        ("stream: Eicar-Test-Signature FOUND", "infected", "Eicar-Test-Signature"),
        (
            "stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
            "too_large",
            "Heuristics.Limits.Exceeded.MaxFileSize",
        ),
        ("INSTREAM size limit exceeded. ERROR", "too_large", ""),
        ("Can't allocate memory ERROR", "failed", ""),
        ("", "failed", ""),
    ],
)
def test_replies(reply, verdict, signature):
    outcome = interpret(reply)
    assert (outcome.verdict, outcome.signature) == (verdict, signature)


def test_an_unconfigured_scanner_never_says_clean():
    scanner = Clamd()
    assert scanner.configured is False
    assert scanner.scan([b"anything"]).verdict == "failed"


def test_nothing_listening_on_tcp_fails_the_scan():
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = Clamd(address=f"127.0.0.1:{port}", timeout=5).scan([b"x"])
    assert outcome.verdict == "failed" and "unreachable" in outcome.detail
