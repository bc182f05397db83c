"""A real SMTP server for tests (aiosmtpd), in a process of its own on a free port, that can
be stopped and started again on the same port to play a mail server that goes down.

Its own process, because the tests' eventlet monkey patch and Playwright's event loop do not
mix with aiosmtpd's thread. It spools each message it accepts into a folder:
`<n>.eml` (the message as received) beside `<n>.json` (the envelope).

    with SMTPServer() as smtp:
        ...point Lodge at smtp.env()...
        [letter] = smtp.to("student@example.edu")   # parsed EmailMessages
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.system import REPO_ROOT, free_port


class SMTPServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.host, self.port = host, free_port(host)
        self.spool = Path(tempfile.mkdtemp(prefix="lodge-smtp-"))
        self._process: subprocess.Popen | None = None

    def start(self) -> SMTPServer:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.smtp",
                self.host,
                str(self.port),
                str(self.spool),
            ],
            cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the test SMTP server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None

    def received(self) -> list[tuple[email.message.EmailMessage, list[str]]]:
        """Every message accepted so far, in order, with its envelope recipients."""
        result = []
        # "[0-9]*": pathlib's "*" also matches the hidden partial file of a message arriving
        for envelope in sorted(self.spool.glob("[0-9]*.json"), key=lambda p: int(p.stem)):
            # RFC 6532 headers are UTF-8; everything else is ASCII, which UTF-8 reads alike
            raw = envelope.with_suffix(".eml").read_bytes().decode("utf-8").replace("\r\n", "\n")
            message = email.message_from_string(raw, policy=email.policy.default)
            result.append((message, json.loads(envelope.read_text())["rcpt_tos"]))
        return result

    @property
    def messages(self) -> list:
        return [message for message, _ in self.received()]

    def to(self, address: str) -> list:
        return [message for message, recipients in self.received() if address in recipients]

    def env(self) -> dict[str, str]:
        """The environment that points Lodge at this server."""
        return {
            "LODGE_SMTP_HOST": self.host,
            "LODGE_SMTP_PORT": str(self.port),
            "LODGE_SMTP_TIMEOUT": "5",
        }

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.spool, ignore_errors=True)


def _serve(host: str, port: int, spool: Path) -> None:
    from aiosmtpd.controller import Controller

    class Spool:
        async def handle_DATA(self, server, session, envelope):
            number = len(list(spool.glob("*.json"))) + 1
            (spool / f"{number}.eml").write_bytes(envelope.original_content or envelope.content)
            partial = spool / f".{number}.json"
            partial.write_text(
                json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)})
            )
            os.replace(partial, spool / f"{number}.json")  # the message is whole once this exists
            return "250 OK"

    # SMTPUTF8 on, so internationalised addresses (RFC 6532) can be delivered
    controller = Controller(
        Spool(), hostname=host, port=port, enable_SMTPUTF8=True, decode_data=False
    )
    controller.start()
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
