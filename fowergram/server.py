"""Running uvicorn: our options, and a server that ends quietly on SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Generator
from typing import Any

import uvicorn

from fowergram.config import Settings

log = logging.getLogger(__name__)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "loop": "uvloop",
        # WebSocket upgrades to /graphql straight to the hub; the rest to httptools.
        "http": "fowergram.realtime.front_door:FrontDoor",
        # The hub serves its sockets at the transport, without the ASGI app in between.
        "ws": "fowergram.realtime.ws_transport:HubProtocol",
        "log_config": None,  # keep our JSON logging
        "access_log": False,  # ObserveRequests logs each request with its id
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        # Long enough for the hub's drain (WS_DRAIN_DEADLINE_S) and the close handshakes.
        "timeout_graceful_shutdown": math.ceil(settings.ws_drain_deadline_s) + 3,
        "ws_max_size": settings.ws_max_message_bytes,
        "log_level": settings.log_level.lower(),
    }


class Server(uvicorn.Server):
    """uvicorn's server, ending quietly on SIGINT/SIGTERM. Its sockets drain in batches
    (the hub's `ws` protocol does it when uvicorn asks them to shut down), in every
    worker process alike."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises the signal after a graceful shutdown, which lands inside the
        # event loop as a KeyboardInterrupt traceback. The shutdown is done: just return.
        with super().capture_signals():
            yield
            self._captured_signals.clear()
