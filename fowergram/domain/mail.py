"""Outgoing mail: the message, the port that delivers it, and the messages we compose."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Deliver the message or raise MailDeliveryError."""
        ...


class MailDeliveryError(Exception):
    """Delivery failed. The message is one line and carries no credentials."""


def verification_email(to: str, link: str, *, app_name: str) -> EmailMessage:
    text = (
        f"Hello,\n\n"
        f"Please confirm your email address for {app_name} by opening this link:\n\n"
        f"{link}\n\n"
        f"If you did not create a {app_name} account, you can ignore this message.\n"
    )
    html = _html_page(
        f"<p>Hello,</p>\n"
        f"<p>Please confirm your email address for {escape(app_name)}:</p>\n"
        f"{_html_button(link, 'Confirm email address')}"
        f"<p>If you did not create a {escape(app_name)} account, "
        f"you can ignore this message.</p>\n"
    )
    return EmailMessage(
        to=to, subject=f"Confirm your email address for {app_name}", text=text, html=html
    )


def password_reset_email(to: str, link: str, *, app_name: str, ttl_minutes: int) -> EmailMessage:
    text = (
        f"Hello,\n\n"
        f"Someone asked to reset the password of your {app_name} account. "
        f"To choose a new password, open this link within {ttl_minutes} minutes:\n\n"
        f"{link}\n\n"
        f"If it was not you, ignore this message: your password stays as it is.\n"
    )
    html = _html_page(
        f"<p>Hello,</p>\n"
        f"<p>Someone asked to reset the password of your {escape(app_name)} account. "
        f"To choose a new password, open this link within {ttl_minutes} minutes:</p>\n"
        f"{_html_button(link, 'Reset password')}"
        f"<p>If it was not you, ignore this message: your password stays as it is.</p>\n"
    )
    return EmailMessage(to=to, subject=f"Reset your {app_name} password", text=text, html=html)


def _html_button(link: str, label: str) -> str:
    # The link is also shown as text: some clients strip or rewrite anchors.
    href = escape(link, quote=True)
    return (
        f'<p><a href="{href}">{escape(label)}</a></p>\n'
        f"<p>Or copy this address into your browser:<br>{href}</p>\n"
    )


def _html_page(body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"></head>\n'
        f"<body>\n{body}</body>\n</html>\n"
    )
