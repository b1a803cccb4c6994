"""Running uvicorn: our options, and a server that ends quietly on SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn

from fowergram.config import Settings

log = logging.getLogger(__name__)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "loop": "uvloop",
        "http": "httptools",
        # The hub serves its sockets at the transport, without the ASGI app in between.
        "ws": "fowergram.realtime.ws_transport:HubProtocol",
        "log_config": None,  # keep our JSON logging
        "access_log": False,  # ObserveRequests logs each request with its id
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        "ws_max_size": settings.ws_max_message_bytes,
        "log_level": settings.log_level.lower(),
    }


class Server(uvicorn.Server):
    """uvicorn's server, with a drain step before its own shutdown: uvicorn closes every
    socket at once, which sends all clients reconnecting in the same instant."""

    def __init__(
        self, config: uvicorn.Config, *, drain: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        super().__init__(config)
        self._drain = drain

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting first
        if self._drain is not None:
            try:
                await self._drain()
            except Exception:
                log.exception("draining sockets failed")
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises the signal after a graceful shutdown, which lands inside the
        # event loop as a KeyboardInterrupt traceback. The shutdown is done: just return.
        with super().capture_signals():
            yield
            self._captured_signals.clear()
