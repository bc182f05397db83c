"""Mail transports: a folder of .eml files (the embedded default) or SMTP."""
from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from nameko.extensions import DependencyProvider

from services.common.config import get_settings


def build_message(sender: str, recipient: str, recipient_name: str, subject: str,
                  body_text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((recipient_name, recipient))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">") or "lodge")
    message.set_content(body_text)
    return message


class MailFolder:
    """Writes one RFC 5322 .eml file per message; written whole, then renamed into place."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").replace("@", "_").replace("/", "_")
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(bytes(message))
        os.replace(partial, self.folder / f"{name}.eml")


class SMTPTransport:
    def __init__(self, host: str, port: int, starttls: bool, username: str | None,
                 password: str | None):
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password = username, password

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class Mailer(DependencyProvider):
    """SMTP when LODGE_SMTP_HOST is set, otherwise the mail folder."""

    def setup(self):
        host = os.environ.get("LODGE_SMTP_HOST")
        if host:
            self.transport = SMTPTransport(
                host, int(os.environ.get("LODGE_SMTP_PORT", "25")),
                os.environ.get("LODGE_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
                os.environ.get("LODGE_SMTP_USERNAME"), os.environ.get("LODGE_SMTP_PASSWORD"))
        else:
            self.transport = MailFolder(get_settings().mail_dir)

    def get_dependency(self, worker_ctx):
        return self.transport
