"""Send mail after answering: a request's latency (and so what it reveals, e.g. whether
an address has an account) must not depend on the SMTP server."""

from __future__ import annotations

import asyncio
import logging

from fowergram.domain.mail import EmailMessage, MailDeliveryError, Mailer

log = logging.getLogger(__name__)


class BackgroundMailer:
    def __init__(self, inner: Mailer) -> None:
        self._inner = inner
        self._pending: set[asyncio.Task[None]] = set()

    async def send(self, message: EmailMessage) -> None:
        task = asyncio.create_task(self._deliver(message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, message: EmailMessage) -> None:
        try:
            await self._inner.send(message)
        except MailDeliveryError as exc:
            log.error("mail delivery failed", extra={"subject": message.subject, "error": str(exc)})

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Let queued messages go out before shutdown."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
