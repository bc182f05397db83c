"""A real SMTP server for tests (aiosmtpd) on a free port, that can be stopped and started
again on the same port to play a mail server that goes down."""
from __future__ import annotations

import email
import email.policy
import threading

from aiosmtpd.controller import Controller

from tests.support.system import free_port


class _Collect:
    def __init__(self, server: "SMTPServer"):
        self.server = server

    async def handle_DATA(self, server, session, envelope):
        self.server._received(envelope)
        return "250 OK"


class SMTPServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.host, self.port = host, free_port(host)
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def _received(self, envelope) -> None:
        # RFC 6532 headers are UTF-8; everything else is ASCII, which UTF-8 reads alike
        raw = (envelope.original_content or envelope.content).decode("utf-8").replace("\r\n", "\n")
        message = email.message_from_string(raw, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))

    def start(self) -> "SMTPServer":
        # SMTPUTF8 on, so internationalised addresses (RFC 6532) can be delivered
        self._controller = Controller(_Collect(self), hostname=self.host, port=self.port,
                                      enable_SMTPUTF8=True, decode_data=False)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list:
        with self._lock:
            return [message for message, (_, rcpts) in zip(self.messages, self.envelopes)
                    if address in rcpts]

    def env(self) -> dict[str, str]:
        """The environment that points Lodge at this server."""
        return {"LODGE_SMTP_HOST": self.host, "LODGE_SMTP_PORT": str(self.port),
                "LODGE_SMTP_TIMEOUT": "5"}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


__all__ = ["SMTPServer"]
