"""A real uvicorn server on a free port: in its own thread and event loop (`LiveServer`),
or on the test's own loop (`served_on_this_loop`) for a test that drives the server's
tasks itself."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from fowergram.config import Settings
from fowergram.embedded.process import free_port
from fowergram.realtime.hub import ConnectionHub
from fowergram.server import Server, uvicorn_options


class LiveServer:
    def __init__(self, app: Starlette, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        options = uvicorn_options(settings) | {"log_level": "warning"}
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, **options)
        self._server = Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def open_connections(self) -> int:
        """The connections uvicorn counts as open (what its shutdown waits for)."""
        return len(self._server.server_state.connections)

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve())
        except BaseException as exc:
            self._error = exc

    def start(self, timeout: float = 30) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self._error!r}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class ServedHere:
    server: Server
    port: int
    app: Starlette

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def hub(self) -> ConnectionHub:
        hub: ConnectionHub = self.app.state.hub
        return hub

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.app.state.metrics.registry.get_sample_value(name, labels or {}) or 0.0


@contextlib.asynccontextmanager
async def served_on_this_loop(
    app: Starlette, settings: Settings, timeout: float = 30
) -> AsyncIterator[ServedHere]:
    """The app under uvicorn on the calling test's event loop, so that the test can start
    the hub's drain itself or await the one uvicorn's shutdown starts."""
    port = free_port()
    options = uvicorn_options(settings) | {"log_level": "warning"}
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    serving = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if serving.done() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.02)
        yield ServedHere(server, port, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
