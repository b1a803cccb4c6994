"""The NATS connection: reconnects for ever, logs its transitions."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client as NATS

log = logging.getLogger(__name__)


class NatsUnavailable(ConnectionError):
    pass


async def connect_nats(url: str, *, name: str) -> NATS:
    async def disconnected() -> None:
        log.warning("nats disconnected")

    async def reconnected() -> None:
        log.info("nats reconnected")

    async def error(exc: Exception) -> None:
        log.warning("nats error", extra={"error": repr(exc)})

    return await nats.connect(
        url,
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )


async def ping(nc: NATS) -> None:
    if not nc.is_connected:
        raise NatsUnavailable("not connected")
    await nc.flush(timeout=2)
