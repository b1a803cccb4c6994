"""Delivery through an SMTP server (aiosmtplib), one connection per message."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr

import aiosmtplib

from fowergram.domain.mail import EmailMessage, MailDeliveryError

_ERROR_DETAIL_LIMIT = 200


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None,
        password: str | None,
        starttls: bool,
        use_tls: bool,
        timeout: float = 10.0,
    ) -> None:
        if starttls and use_tls:
            raise ValueError("starttls and use_tls are exclusive: use_tls is implicit TLS")
        if (username is None) != (password is None):
            raise ValueError("give both an SMTP username and password, or neither")
        self._envelope_sender = envelope_address(sender, field="sender")
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._use_tls = use_tls
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        mime = build_mime(message, sender=self._sender)
        try:
            await aiosmtplib.send(
                mime,
                # Explicit envelope: never let a header decide who receives the message.
                sender=self._envelope_sender,
                recipients=[envelope_address(message.to, field="to")],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                # False means never upgrade, True means require it; aiosmtplib's None
                # (upgrade when offered) would make the configured value meaningless.
                start_tls=self._starttls,
                use_tls=self._use_tls,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailDeliveryError(
                f"SMTP delivery via {self._host}:{self._port} failed: {_describe(exc)}"
            ) from exc


def build_mime(message: EmailMessage, *, sender: str, now: datetime | None = None) -> MimeMessage:
    """The RFC 5322 form of a message; ValueError on anything that could inject headers."""
    envelope_address(message.to, field="to")
    _refuse_line_breaks(message.subject, field="subject")
    sender_address = envelope_address(sender, field="sender")
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now or datetime.now(UTC))
    # With an explicit domain make_msgid skips socket.getfqdn(), a blocking DNS lookup.
    mime["Message-ID"] = make_msgid(domain=sender_address.rpartition("@")[2])
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


def envelope_address(value: str, *, field: str) -> str:
    """The one addr-spec in `value` ("Name <a@b>" or "a@b"); ValueError otherwise."""
    _refuse_line_breaks(value, field=field)
    # More than one address would let a caller add recipients through a single field.
    addresses = getaddresses([value])
    if len(addresses) != 1:
        raise ValueError(f"{field} must hold exactly one address")
    address = parseaddr(value)[1]
    local, at, domain = address.rpartition("@")
    if not (local and at and domain):
        raise ValueError(f"{field} is not an email address")
    return address


def _refuse_line_breaks(value: str, *, field: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{field} must not contain line breaks")


def _describe(exc: BaseException) -> str:
    # Server replies can span lines; the error must stay one log line.
    first_line = next(iter(str(exc).strip().splitlines()), "")
    detail = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    return detail[:_ERROR_DETAIL_LIMIT]
