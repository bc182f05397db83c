"""Mail transports (SMTP, or a folder of .eml files as the embedded default) and the message."""

from __future__ import annotations

import os
import smtplib
import ssl
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from nameko.extensions import DependencyProvider

from kernel.platform.config import MailSettings, get_settings
from kernel.policy.text import one_line


def _address(value: str, name: str = "") -> Address:
    """An address whose display name may be any Unicode; the policy encodes it (RFC 2047).
    A name is one line of allowed characters; an address that holds a line break is refused."""
    parsed_name, email = parseaddr(value)
    username, _, domain = email.rpartition("@")
    return Address(display_name=one_line(name or parsed_name), username=username, domain=domain)


def message_id(letter_id: str, settings: MailSettings) -> str:
    """A letter's Message-ID, the same at every attempt: a letter sent again (the service
    died after the mail server took it, before noting so) is known by mail systems."""
    return f"<{letter_id}.letter@{_address(settings.sender).domain or 'lodge.invalid'}>"


def build_message(
    settings: MailSettings,
    letter_id: str,
    recipient: str,
    recipient_name: str,
    subject: str,
    text: str,
    html: str,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """multipart/alternative: the plain text first, then the HTML the mail reader prefers."""
    # an internationalised address (RFC 6532) needs UTF-8 headers; names alone use RFC 2047
    message = EmailMessage(policy=policy.SMTP if recipient.isascii() else policy.SMTPUTF8)
    sender = _address(settings.sender)
    message["From"] = sender
    message["To"] = _address(recipient, recipient_name)
    if settings.reply_to:
        message["Reply-To"] = _address(settings.reply_to)
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(letter_id, settings)
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
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
    """SMTP, with STARTTLS or implicit TLS and login when configured."""

    def __init__(self, settings: MailSettings):
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        host = s.smtp_host or ""  # what smtplib takes for none: it does not connect
        smtp: smtplib.SMTP
        if s.smtp_tls:
            smtp = smtplib.SMTP_SSL(host, s.smtp_port, timeout=s.smtp_timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, s.smtp_port, timeout=s.smtp_timeout)
        with smtp:
            if s.smtp_starttls and not s.smtp_tls:
                smtp.starttls(context=context)
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(message)


def transport_for(settings: MailSettings):
    if settings.smtp_host:
        return SMTPTransport(settings)
    return MailFolder(settings.folder)


class Mailer(DependencyProvider):
    """SMTP when LODGE_SMTP_HOST is set, otherwise the mail folder."""

    def setup(self):
        self.transport = transport_for(get_settings().mail)

    def get_dependency(self, worker_ctx):
        return self.transport
