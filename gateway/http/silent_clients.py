"""A client that stops sending its request's body holds a gateway thread (and, for a
resumable upload, the upload) only for LODGE_GATEWAY_CLIENT_TIMEOUT_SECONDS.

gunicorn's threaded worker reads its sockets without a timeout, so a client that vanished
without closing its connection (a laptop shut, a network gone) would keep its thread,
waiting for the rest of a body, for good: nothing arrives to tell it the peer is gone.
`SilentClients` gives each read of the body that timeout, counted afresh for each read
(a slow client that keeps sending is never cut off), and turns a body that stopped
arriving into 408 Request Timeout: an upload keeps the bytes that did arrive, and its
client resumes after them. Writing the response keeps no timeout: a slow reader of a large
download is not cut off, and a vanished one is given up by TCP itself once its unsent
data goes unacknowledged.
"""

from __future__ import annotations

from werkzeug.exceptions import RequestTimeout

from kernel.platform.config import get_settings

STOPPED = "The request's body stopped arriving; send it again (a resumable upload resumes)."


class TimedInput:
    """The request's body stream: each read waits for the client at most `seconds`, and
    a silence that long is 408."""

    def __init__(self, stream, sock, seconds: float) -> None:
        self.stream, self.sock, self.seconds = stream, sock, seconds

    def _timed(self, read, *arguments):
        self.sock.settimeout(self.seconds)
        try:
            return read(*arguments)
        except TimeoutError:
            raise RequestTimeout(STOPPED) from None
        finally:
            self.sock.settimeout(None)

    def read(self, *size):
        return self._timed(self.stream.read, *size)

    def readline(self, *size):
        return self._timed(self.stream.readline, *size)

    def readlines(self, *hint):
        return self._timed(self.stream.readlines, *hint)

    def __iter__(self):
        while line := self.readline():
            yield line


class SilentClients:
    """WSGI middleware: the request's body read through TimedInput (gunicorn puts the
    client's socket in the environ; without it, as in tests, the body is left alone)."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            seconds = get_settings().processes.client_timeout_seconds
            environ["wsgi.input"] = TimedInput(environ["wsgi.input"], sock, seconds)
        return self.app(environ, start_response)
