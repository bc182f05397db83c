"""Virus scanning through clamd, speaking its INSTREAM protocol over a Unix or TCP socket.

The protocol is small (a command, length-prefixed chunks, a zero-length end, one reply), so
Lodge speaks it itself rather than depend on an unmaintained client. A scan that cannot run
is an outcome of its own ("failed"), never mistaken for "clean".
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from kernel.platform.config import Settings, get_settings

# clamd refuses a single chunk larger than its StreamMaxLength; 256 KiB stays well below any
SEND_CHUNK = 256 * 1024
LIMIT_SIGNATURE = "Heuristics.Limits.Exceeded"

CLEAN, INFECTED, TOO_LARGE, FAILED = "clean", "infected", "too_large", "failed"


@dataclass(frozen=True)
class ScanOutcome:
    verdict: str  # clean | infected | too_large | failed
    signature: str = ""
    detail: str = ""


class Clamd:
    """A clamd at a Unix socket path or a host:port address."""

    def __init__(self, socket_path: str = "", address: str = "", timeout: float = 120.0):
        self.socket_path = socket_path
        self.address = address
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Clamd:
        settings = settings or get_settings()
        return cls(
            settings.validation.clamd_socket,
            settings.validation.clamd_address,
            settings.validation.clamd_timeout,
        )

    @property
    def configured(self) -> bool:
        return bool(self.socket_path or self.address)

    def where(self) -> str:
        return self.socket_path or self.address or "nowhere (not configured)"

    def _connect(self) -> socket.socket:
        if self.socket_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.socket_path
        else:
            host, _, port = self.address.rpartition(":")
            sock = socket.socket(
                socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
            )
            target = (host.strip("[]"), int(port))
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except BaseException:
            sock.close()
            raise
        return sock

    def ping(self) -> bool:
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return _reply(sock) == "PONG"
        except (OSError, ValueError):
            return False

    def scan(self, chunks: Iterable[bytes]) -> ScanOutcome:
        if not self.configured:
            return ScanOutcome(FAILED, detail="no virus scanner is configured")
        try:
            sock = self._connect()
        except (OSError, ValueError) as err:
            return ScanOutcome(FAILED, detail=f"clamd at {self.where()} is unreachable: {err}")
        with sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    for start in range(0, len(chunk), SEND_CHUNK):
                        piece = chunk[start : start + SEND_CHUNK]
                        sock.sendall(struct.pack("!L", len(piece)) + piece)
                sock.sendall(struct.pack("!L", 0))
            except (BrokenPipeError, ConnectionResetError):
                pass  # clamd stops reading when a limit is reached; its reply says which
            except OSError as err:
                return ScanOutcome(FAILED, detail=f"sending to clamd failed: {err}")
            try:
                return interpret(_reply(sock))
            except OSError as err:
                return ScanOutcome(FAILED, detail=f"clamd gave no answer: {err}")


def _reply(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def interpret(reply: str) -> ScanOutcome:
    """clamd's one-line answer: `stream: OK`, `stream: <signature> FOUND`, or `... ERROR`."""
    if reply == "stream: OK":
        return ScanOutcome(CLEAN)
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        signature = reply[len("stream: ") : -len(" FOUND")]
        if signature.startswith(LIMIT_SIGNATURE):
            return ScanOutcome(TOO_LARGE, signature=signature)
        return ScanOutcome(INFECTED, signature=signature)
    if "size limit exceeded" in reply:
        return ScanOutcome(TOO_LARGE, detail=reply)
    return ScanOutcome(FAILED, detail=reply or "clamd closed the connection without an answer")
