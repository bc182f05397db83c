"""A file server on a loopback port, in a thread of the test process: what a campus system's
file URLs point at, well behaved or not.

    with FileServer(tls=authority.server_context()) as server:
        server.serve("/thesis.pdf", data)
        server.redirect("/old", "https://127.0.0.1:1/elsewhere")
        server.stream("/endless", b"x" * 1024)   # chunked, never ends
        server.url("/thesis.pdf")               # https://127.0.0.1:<port>/thesis.pdf
        server.host                             # its allow-list entry, 127.0.0.1:<port>

Each path answers as set; any other is 404. `requests` lists what was asked (path and
headers), so a test sees whether Lodge connected at all. A streaming answer stops when its
client goes away, so a refused fetch leaves nothing running.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[BaseHTTPRequestHandler], None]


class FileServer:
    def __init__(self, tls: ssl.SSLContext | None = None):
        self.tls = tls
        self.answers: dict[str, Answer] = {}
        self.requests: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        """The allow-list entry for this server: `127.0.0.1:<port>` (with `http://` when plain)."""
        return f"127.0.0.1:{self.port}" if self.tls else f"http://127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def start(self) -> FileServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        if self.tls:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def serve(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)

        self.answers[path] = answer

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.answers[path] = answer

    def stream(
        self,
        path: str,
        piece: bytes,
        times: int | None = None,
        every: float = 0.0,
        content_length: int | None = None,
    ) -> None:
        """`piece` sent `times` times (None: until the client leaves), `every` seconds apart,
        chunked; with a `Content-Length` header besides when one is given (a lie: chunked
        encoding wins, as HTTP says)."""

        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Transfer-Encoding", "chunked")
            if content_length is not None:
                handler.send_header("Content-Length", str(content_length))
            handler.end_headers()
            sent = 0
            while times is None or sent < times:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.wfile.flush()
                sent += 1
                if every:
                    time.sleep(every)
            handler.wfile.write(b"0\r\n\r\n")

        self.answers[path] = answer

    def stall(self, path: str, first: bytes, size: int) -> None:
        """`first` of a `size`-byte answer, then silence until the client leaves."""

        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(size))
            handler.end_headers()
            handler.wfile.write(first)
            handler.wfile.flush()
            handler.rfile.read(1)  # returns when the client closes the connection

        self.answers[path] = answer

    def drip_headers(self, path: str, every: float) -> None:
        """A status line and then header bytes one at a time, never finishing the headers."""

        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while True:
                handler.wfile.write(b"a")
                handler.wfile.flush()
                time.sleep(every)

        self.answers[path] = answer


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            server.requests.append({"path": self.path, "headers": dict(self.headers)})
            answer = server.answers.get(self.path)
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client left: a refused fetch
                if answer is None:
                    self.send_error(404)
                else:
                    answer(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
