"""Mail: SMTP delivery against a real aiosmtpd server, the dev mailbox, composed messages."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import re
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from fowergram.adapters.mail.dev_mailbox import DevMailbox
from fowergram.adapters.mail.smtp import SmtpMailer
from fowergram.domain.mail import (
    EmailMessage,
    MailDeliveryError,
    password_reset_email,
    verification_email,
)

SENDER = "Fowergram <no-reply@fowergram.test>"
LOGIN = "mailer"
PASSWORD = "correct horse"


@dataclass(frozen=True)
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    message: MimeMessage
    login: bytes | None


class RecordingHandler:
    """Keeps every accepted envelope; aiosmtpd calls it on the server's own thread."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parser = BytesParser(_class=MimeMessage, policy=email.policy.default)
        auth = session.auth_data
        self.deliveries.append(
            Delivery(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                # The wire uses CRLF; compare bodies as Python text.
                message=parser.parsebytes(envelope.original_content.replace(b"\r\n", b"\n")),
                login=auth.login if isinstance(auth, LoginPassword) else None,
            )
        )
        return "250 Message accepted for delivery"


def authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (
        LOGIN.encode(),
        PASSWORD.encode(),
    )
    # handled=False lets aiosmtpd answer a failure with 535 itself.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class SmtpServer:
    port: int
    handler: RecordingHandler

    def mailer(self, *, username: str | None = None, password: str | None = None) -> SmtpMailer:
        return SmtpMailer(
            "127.0.0.1",
            self.port,
            sender=SENDER,
            username=username,
            password=password,
            starttls=False,
            use_tls=False,
            timeout=5.0,
        )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        # A fixed name: the default asks socket.getfqdn(), which can stall on DNS.
        server_hostname="mail.test",
        authenticator=authenticate,
        # AUTH over plain TCP is only acceptable because this server lives on loopback.
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(port=controller.port, handler=handler)
    finally:
        controller.stop()


def message(**overrides: str) -> EmailMessage:
    values = {"to": "Ada <ada@example.test>", "subject": "Hello", "text": "Plain body\n"}
    values.update(overrides)
    return EmailMessage(**values)


async def test_plain_message_is_delivered_with_envelope_and_headers(
    smtp_server: SmtpServer,
) -> None:
    await smtp_server.mailer().send(message())

    [delivery] = smtp_server.handler.deliveries
    assert delivery.mail_from == "no-reply@fowergram.test"
    assert delivery.rcpt_tos == ["ada@example.test"]
    assert delivery.login is None
    mime = delivery.message
    assert mime["From"] == SENDER
    assert mime["To"] == "Ada <ada@example.test>"
    assert mime["Subject"] == "Hello"
    assert mime["Date"].datetime.tzinfo is not None
    assert mime["Message-ID"].endswith("@fowergram.test>")
    assert mime.get_content_type() == "text/plain"
    assert mime.get_content() == "Plain body\n"


async def test_html_is_sent_as_an_alternative_to_the_text(smtp_server: SmtpServer) -> None:
    await smtp_server.mailer().send(message(html="<p>Rich <b>body</b></p>\n"))

    [delivery] = smtp_server.handler.deliveries
    mime = delivery.message
    assert mime.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in mime.iter_parts()}
    assert parts == {"text/plain": "Plain body\n", "text/html": "<p>Rich <b>body</b></p>\n"}


async def test_credentials_are_used_to_authenticate(smtp_server: SmtpServer) -> None:
    await smtp_server.mailer(username=LOGIN, password=PASSWORD).send(message())

    [delivery] = smtp_server.handler.deliveries
    assert delivery.login == LOGIN.encode()


async def test_wrong_password_is_a_delivery_error(smtp_server: SmtpServer) -> None:
    mailer = smtp_server.mailer(username=LOGIN, password="wrong battery")

    with pytest.raises(MailDeliveryError) as raised:
        await mailer.send(message())

    assert "\n" not in str(raised.value)
    assert "wrong battery" not in str(raised.value)
    assert smtp_server.handler.deliveries == []


async def test_unreachable_server_is_a_delivery_error() -> None:
    mailer = SmtpMailer(
        "127.0.0.1",
        free_port(),
        sender=SENDER,
        username=None,
        password=None,
        starttls=False,
        use_tls=False,
        timeout=2.0,
    )

    # A bound on hanging, not a speed measurement: a refused connection fails at once.
    async with asyncio.timeout(10):
        with pytest.raises(MailDeliveryError, match=re.escape("127.0.0.1")):
            await mailer.send(message())


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"to": "ada@example.test\r\nBcc: eve@example.test"}, "to must not contain line breaks"),
        ({"to": "ada@example.test\nBcc: eve@example.test"}, "to must not contain line breaks"),
        ({"to": "ada@example.test, eve@example.test"}, "to must hold exactly one address"),
        ({"subject": "Hello\r\nBcc: eve@example.test"}, "subject must not contain line breaks"),
        ({"subject": "Hello\rX-Injected: yes"}, "subject must not contain line breaks"),
    ],
)
async def test_header_injection_is_refused_before_connecting(
    smtp_server: SmtpServer, overrides: dict[str, str], refusal: str
) -> None:
    with pytest.raises(ValueError, match=f"^{refusal}$"):
        await smtp_server.mailer().send(message(**overrides))

    assert smtp_server.handler.deliveries == []


async def test_dev_mailbox_writes_a_readable_eml(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "mail" / "outbox"
    mailbox = DevMailbox(folder, sender=SENDER)
    assert mailbox.messages() == []
    assert mailbox.latest() is None

    with caplog.at_level(logging.INFO, logger="fowergram.adapters.mail.dev_mailbox"):
        await mailbox.send(message(to="bob@example.test", subject="First"))
        await mailbox.send(message(subject="Second", html="<p>Second</p>\n"))

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    paths = mailbox.messages()
    assert all(re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{8}\.eml", path.name) for path in paths)
    # Nothing else is left behind (no partial files), and only the owner can read mail.
    assert sorted(folder.iterdir()) == paths
    assert {stat.S_IMODE(path.stat().st_mode) for path in paths} == {0o600}

    latest = mailbox.latest()
    assert latest is not None
    assert latest["Subject"] == "Second"
    assert latest["From"] == SENDER
    assert latest["Message-ID"]
    body = latest.get_body(preferencelist=("html",))
    assert body is not None
    assert body.get_content() == "<p>Second</p>\n"

    for_bob = mailbox.latest("Bob <BOB@example.test>")
    assert for_bob is not None
    assert for_bob["Subject"] == "First"
    assert mailbox.latest("nobody@example.test") is None

    # The file on disk is a plain RFC 5322 message any mail client can open.
    with paths[0].open("rb") as file:
        raw = BytesParser(policy=email.policy.default).parse(file)
    assert raw["To"] == "bob@example.test"

    # `extra=` fields become record attributes; vars() reads them without upsetting mypy.
    logged = [vars(r) for r in caplog.records if r.getMessage() == "mail delivered to dev mailbox"]
    assert [(entry["to"], entry["subject"], entry["path"]) for entry in logged] == [
        ("bob@example.test", "First", str(paths[0])),
        ("Ada <ada@example.test>", "Second", str(paths[1])),
    ]


async def test_dev_mailbox_refuses_header_injection(tmp_path: Path) -> None:
    mailbox = DevMailbox(tmp_path / "mail")

    with pytest.raises(ValueError, match="line breaks"):
        await mailbox.send(message(subject="Hi\r\nBcc: eve@example.test"))

    assert mailbox.messages() == []


HOSTILE_LINK = 'https://fowergram.test/verify?token=abc"<script>alert(1)</script>&x=1'


@pytest.mark.parametrize(
    "composed",
    [
        verification_email("ada@example.test", HOSTILE_LINK, app_name="Fower<gram>"),
        password_reset_email(
            "ada@example.test", HOSTILE_LINK, app_name="Fower<gram>", ttl_minutes=30
        ),
    ],
    ids=["verification", "password_reset"],
)
def test_composed_emails_carry_the_link_and_escape_html(composed: EmailMessage) -> None:
    assert composed.to == "ada@example.test"
    assert "Fower<gram>" in composed.subject
    assert HOSTILE_LINK in composed.text
    assert composed.html is not None
    assert "<script>" not in composed.html
    assert "<gram>" not in composed.html
    escaped = (
        "https://fowergram.test/verify?token=abc&quot;&lt;script&gt;alert(1)&lt;/script&gt;&amp;x=1"
    )
    assert f'href="{escaped}"' in composed.html
    assert "Fower&lt;gram&gt;" in composed.html


def test_password_reset_email_states_how_long_the_link_lasts() -> None:
    composed = password_reset_email(
        "ada@example.test", "https://fowergram.test/reset?t=1", app_name="Fowergram", ttl_minutes=45
    )

    assert "45 minutes" in composed.text
    assert composed.html is not None
    assert "45 minutes" in composed.html


async def test_composed_email_survives_smtp_delivery(smtp_server: SmtpServer) -> None:
    composed = verification_email("ada@example.test", HOSTILE_LINK, app_name="Fowergram")

    await smtp_server.mailer().send(composed)

    [delivery] = smtp_server.handler.deliveries
    text = delivery.message.get_body(preferencelist=("plain",))
    html = delivery.message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert HOSTILE_LINK in text.get_content()
    assert "<script>" not in html.get_content()


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"starttls": True, "use_tls": True}, "exclusive"),
        ({"username": "mailer"}, "both"),
        ({"password": "secret"}, "both"),
        ({"sender": "Fowergram"}, "not an email address"),
    ],
)
def test_inconsistent_smtp_settings_are_refused(options: dict[str, Any], refusal: str) -> None:
    settings: dict[str, Any] = {
        "sender": SENDER,
        "username": None,
        "password": None,
        "starttls": False,
        "use_tls": False,
    }
    settings.update(options)

    with pytest.raises(ValueError, match=refusal):
        SmtpMailer("127.0.0.1", 25, **settings)
