"""A NATS server of a test's own, which the test stops and starts again.

Started again on the same port with the same store directory, it keeps its JetStream
streams, durable consumers and de-duplication state, and clients reconnect to the same URL:
an outage, not a new server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fowergram.embedded.nats import EmbeddedNats
from fowergram.embedded.process import free_port


def private_nats(data_dir: Path) -> EmbeddedNats:
    """A server on a free port storing under `data_dir`; not started yet."""
    return EmbeddedNats(data_dir, free_port())


async def start_nats(server: EmbeddedNats) -> None:
    """Launch (or launch again after `stop`) and wait until it listens, off the event loop."""
    server.launch()
    await asyncio.to_thread(server.wait_ready)
