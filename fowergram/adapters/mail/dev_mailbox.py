"""Development delivery: each message becomes an .eml file in a folder, nothing leaves the host."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import os
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.parser import BytesParser
from email.utils import parseaddr
from pathlib import Path

from fowergram.adapters.mail.smtp import build_mime
from fowergram.domain.mail import EmailMessage

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "Fowergram <no-reply@fowergram.local>"


class DevMailbox:
    def __init__(self, folder: Path, *, sender: str = DEFAULT_SENDER) -> None:
        self._folder = folder
        self._sender = sender

    @property
    def folder(self) -> Path:
        return self._folder

    async def send(self, message: EmailMessage) -> None:
        # Built before any I/O so a header injection fails exactly as it would over SMTP.
        mime = build_mime(message, sender=self._sender)
        # RFC 5322 wants CRLF line endings; mail clients open such files as they are.
        data = mime.as_bytes(policy=email.policy.SMTP)
        path = await asyncio.to_thread(self._write, data)
        logger.info(
            "mail delivered to dev mailbox",
            extra={"to": message.to, "subject": message.subject, "path": str(path)},
        )

    def messages(self) -> list[Path]:
        """The delivered files, oldest first."""
        if not self._folder.is_dir():
            return []
        # Names start with a fixed-width UTC timestamp, so name order is delivery order.
        return sorted(self._folder.glob("*.eml"))

    def latest(self, to: str | None = None) -> MimeMessage | None:
        """The newest message, or the newest one addressed to `to` (address compared only)."""
        wanted = parseaddr(to)[1].lower() if to is not None else None
        parser = BytesParser(_class=MimeMessage, policy=email.policy.default)
        for path in reversed(self.messages()):
            with path.open("rb") as file:
                parsed = parser.parse(file)
            if wanted is None or parseaddr(str(parsed["To"]))[1].lower() == wanted:
                return parsed
        return None

    def _write(self, data: bytes) -> Path:
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
        path = self._folder / name
        # Written under a name messages() skips, then renamed: readers never see half a file.
        partial = self._folder / f".{name}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return path
