"""The NATS connection: reconnects for ever, logs its transitions."""

from __future__ import annotations

import asyncio
import logging

import nats
import nats.errors
from nats.aio.client import Client as NATS

log = logging.getLogger(__name__)


class NatsUnavailable(ConnectionError):
    pass


async def connect_nats(url: str, *, name: str) -> NATS:
    client: NATS | None = None

    async def disconnected() -> None:
        if client is not None and (client.is_draining or client.is_closed):
            return  # our own shutdown
        log.warning("nats disconnected")

    # While the server is away nats-py reports every failed attempt (twice a second):
    # log the first error of an outage, then nothing until it reconnects.
    reported: set[str] = set()

    async def reconnected() -> None:
        reported.clear()
        log.info("nats reconnected")

    async def error(exc: Exception) -> None:
        kind = type(exc).__name__
        if kind not in reported:
            reported.add(kind)
            log.warning("nats error", extra={"error": repr(exc)})

    client = await nats.connect(
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
    return client


DRAIN_TIMEOUT_S = 5.0


async def close_nats(nc: NATS) -> None:
    """Drain (deliver what is in flight) when connected; otherwise just close."""
    if nc.is_connected:
        try:
            await asyncio.wait_for(nc.drain(), DRAIN_TIMEOUT_S)
        except (TimeoutError, nats.errors.Error):
            log.warning("nats drain did not finish; closing")
        else:
            return
    await nc.close()


async def ping(nc: NATS) -> None:
    if not nc.is_connected:
        raise NatsUnavailable("not connected")
    await nc.flush(timeout=2)
