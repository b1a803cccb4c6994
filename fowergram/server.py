"""Running uvicorn: our options, and a server that ends quietly on SIGINT/SIGTERM."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import uvicorn

from fowergram.config import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        "log_config": None,  # keep our JSON logging
        "access_log": False,  # ObserveRequests logs each request with its id
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        "ws_max_size": 1024 * 1024,
        "log_level": settings.log_level.lower(),
    }


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises the signal after a graceful shutdown, which lands inside the
        # event loop as a KeyboardInterrupt traceback. The shutdown is done: just return.
        with super().capture_signals():
            yield
            self._captured_signals.clear()
