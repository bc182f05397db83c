"""A client that stops sending its body holds a gateway thread only for
LODGE_GATEWAY_CLIENT_TIMEOUT_SECONDS, then is answered 408; a slow client that keeps
sending is never cut off. A real `lodge gateway` (one worker, one thread) on raw sockets."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests
from werkzeug.exceptions import RequestTimeout

from gateway.http.silent_clients import TimedInput
from tests.support.system import free_port, lone_gateway, poll_until

TIMEOUT = 2.0
BODY = b"username=sam&password=secret&csrf_token=forged"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    port = free_port()
    process = lone_gateway(
        tmp_path_factory.mktemp("silent"),
        port,
        LODGE_GATEWAY_THREADS="1",  # a thread held shows at once
        LODGE_GATEWAY_CLIENT_TIMEOUT_SECONDS=str(TIMEOUT),
        LODGE_AMQP_URI="amqp://guest:guest@127.0.0.1:1/",
    )
    poll_until(lambda: healthy(port), timeout=60, description="the gateway answering")
    yield port
    process.terminate()
    process.wait(timeout=60)


def healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def post_login(port: int) -> socket.socket:
    """A sign-in form's headers, promising BODY; the caller sends the body (or not)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /login HTTP/1.1\r\nHost: lodge.test\r\nAccept: application/json\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
    )
    return sock


def answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    start = body.find(b"{")
    return status, json.loads(body[start : body.rfind(b"}") + 1]) if start >= 0 else {}


def test_a_body_that_stops_arriving_is_answered_408_and_frees_its_thread(gateway):
    stalled = post_login(gateway)
    stalled.sendall(BODY[:10])  # and then nothing, the connection left open
    started = time.monotonic()
    # the only thread is reading the stalled body: this waits for it
    assert requests.get(f"http://127.0.0.1:{gateway}/healthz", timeout=30).status_code == 200
    assert time.monotonic() - started < TIMEOUT + 10
    status, body = answer(stalled)
    stalled.close()
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert "stopped arriving" in body["error"]["message"]


def test_a_slow_client_that_keeps_sending_is_not_cut_off(gateway):
    sock = post_login(gateway)
    pieces = [BODY[i : i + 8] for i in range(0, len(BODY), 8)]
    for piece in pieces:  # three seconds in all, each pause a quarter of the timeout
        sock.sendall(piece)
        time.sleep(TIMEOUT / 4)
    status, body = answer(sock)
    sock.close()
    # the whole body was read: the form's forged token is what is refused
    assert status == 400 and body["error"]["code"] == "csrf_failed"


class Silent:
    def read(self, *size):
        raise TimeoutError("timed out")

    readline = readlines = read


class Socket:
    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def settimeout(self, seconds: float | None) -> None:
        self.timeouts.append(seconds)


@pytest.mark.parametrize("method", ["read", "readline", "readlines"])
def test_each_way_of_reading_a_silent_body_is_a_request_timeout(method):
    sock = Socket()
    with pytest.raises(RequestTimeout):
        getattr(TimedInput(Silent(), sock, 7.0), method)()
    assert sock.timeouts == [7.0, None]  # the response is written without one
